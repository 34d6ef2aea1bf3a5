// Sinks for where operators meet a death: Kubernetes' termination log, an alerting hook, and
// a Prometheus textfile. Each is told only the final certificate, and none of them can
// change deathwatch's exit status: a failure is one line on stderr.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "deathwatch/sink.h"

namespace deathwatch {

// Kubernetes reads at most this much of a container's termination message.
inline constexpr std::size_t kTerminationMessageLimit = 4096;
// The default termination log, used when deathwatch is PID 1 and it exists.
inline constexpr const char* kKubernetesTerminationLog = "/dev/termination-log";

// --termination-log FILE: the one-sentence cause, so that `kubectl describe pod` says who
// killed the container instead of a bare exit 137.
std::unique_ptr<Sink> termination_log_sink(std::string path);

// --on-death CMD: `/bin/sh -c CMD` once the certificate is final, with the death in its
// environment (DEATHWATCH_CERT, _PID, _COMMAND, _OUTCOME, _EXIT_CODE, _SIGNAL, _CATEGORY,
// _CONFIDENCE, _SENDER_PID, _SENDER_COMM, _SUMMARY; unknown ones unset). Killed, with its
// process group, after `timeout`.
inline constexpr std::chrono::seconds kOnDeathTimeout{30};
std::unique_ptr<Sink> death_hook_sink(std::string command, std::string certificate_path,
                                      std::chrono::milliseconds timeout = kOnDeathTimeout);

// --metrics FILE: node_exporter's textfile collector format, counts accumulated across runs
// (and concurrent writers: FILE.lock is flock'ed), rewritten through a temporary + rename.
std::unique_ptr<Sink> metrics_file_sink(std::string path);

}  // namespace deathwatch
