// `deathwatch finalize FILE`, for systemd's ExecStopPost=: completes a certificate whose
// watcher died with the service (systemd's stop escalation SIGKILLs the whole cgroup after
// TimeoutStopSec=), from what systemd passes ($SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS) and
// what the file and its event log already hold (the SIGTERM and its sender were on disk
// before the SIGKILL). A certificate that is already final is left as it is.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deathwatch/clock.h"

namespace deathwatch {

// systemd's words on how the service ended (systemd.exec(5), ExecStopPost= environment).
struct SystemdEnding {
  std::optional<std::string> service_result;  // success, exit-code, signal, timeout, oom-kill, ...
  std::optional<std::string> exit_code;       // exited, killed, dumped
  std::optional<std::string> exit_status;     // a number, or a signal name without SIG
  static SystemdEnding from_environment();
};

struct Finalized {
  bool changed = false;
  std::string how;  // one sentence: what was done, or why nothing was
};

// Pure: completes `certificate` in place. `events` are FILE.events' lines, parsed.
Finalized finalize_certificate(nlohmann::json& certificate, const std::vector<nlohmann::json>& events,
                               const SystemdEnding& ending, WallTime now);

// The subcommand: `args` are the words after "finalize". Returns the exit status.
int run_finalize(const std::vector<std::string>& args);

}  // namespace deathwatch
