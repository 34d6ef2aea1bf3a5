// Small builders shared by the unit tests: outcomes, senders, text checks.
#pragma once

#include <sys/types.h>

#include <string>

#include "deathwatch/certificate.h"

namespace deathwatch::testing {

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline Outcome exited(int code) {
  Outcome o;
  o.kind = OutcomeKind::Exited;
  o.exit_code = code;
  return o;
}

inline Outcome killed(int signo, bool core = false) {
  Outcome o;
  o.kind = OutcomeKind::Killed;
  o.signal = signo;
  o.core_dumped = core;
  return o;
}

// A sender as /proc would describe a live process.
inline Sender process_sender(pid_t pid, const char* comm, uid_t uid = 1000) {
  Sender s;
  s.pid = pid;
  s.uid = uid;
  s.comm = comm;
  s.source = "procfs";
  return s;
}

}  // namespace deathwatch::testing
