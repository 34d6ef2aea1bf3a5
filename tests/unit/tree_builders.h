// Builders shared by the process tree's unit tests (test_process_tree.cpp, test_root_cause.cpp):
// a top pid, a time line, a signal sent by a process, the top's own cause.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "deathwatch/certificate.h"
#include "deathwatch/verdict.h"

namespace deathwatch::testing {

constexpr pid_t kTop = 1000;
inline const WallTime kT0 = WallTime{} + std::chrono::seconds(1795701000);

inline WallTime at(int secs, int ms = 0) {
  return kT0 + std::chrono::seconds(secs) + std::chrono::milliseconds(ms);
}

using Argv = std::vector<std::string>;

// `signo` sent with kill(2) (SI_USER) by `sender` to `receiver` at `when`.
inline SignalRecord sent(pid_t receiver, int signo, const Sender& sender, WallTime when) {
  SignalRecord r;
  r.time = r.last_time = when;
  r.pid = r.tid = receiver;
  r.signo = signo;
  r.code = SI_USER;
  r.origin = classify_origin(signo, SI_USER);
  r.sender = sender;
  return r;
}

// The top's own cause, decided the way the supervisor does it.
inline Cause top_cause(const Outcome& outcome, const std::vector<SignalRecord>& signals = {},
                       WallTime end = at(100)) {
  return decide_cause(outcome, kTop, signals, end);
}

}  // namespace deathwatch::testing
