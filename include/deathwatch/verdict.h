// Turning observed facts into a cause of death: category, confidence and evidence.
// Pure logic, no I/O: unit-tested in tests/unit/test_verdict.cpp.
#pragma once

#include <sys/types.h>

#include <vector>

#include "deathwatch/certificate.h"

namespace deathwatch {

// How long before an exit a caught terminating signal still counts as its likely reason.
inline constexpr double kCaughtSignalWindowSeconds = 30.0;

// Decides why process `pid` ended with `outcome`, from the signals it received (records for
// other pids are ignored). `ended_at` is when its death was observed.
// `oom` is OOM-killer evidence for the process, if any was found.
Cause decide_cause(const Outcome& outcome, pid_t pid, const std::vector<SignalRecord>& signals,
                   WallTime ended_at, const std::optional<OomKill>& oom = std::nullopt);

// What a single received signal means, as if it were fatal (used for killed-by outcomes and
// for the signal that preceded an exit code 128+N).
Cause explain_signal(const SignalRecord& record);

// "Ctrl+C", "Ctrl+\\", ... for terminal-generated signals; nullptr for others.
const char* terminal_key(int signo);

}  // namespace deathwatch
