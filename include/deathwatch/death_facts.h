// The few facts of a death that operators' tools key on (a hook's environment, metrics
// labels, the termination log), taken once from the final certificate so that every such
// sink names them the same way.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "deathwatch/certificate.h"

namespace deathwatch {

struct DeathFacts {
  pid_t pid = 0;
  std::string command;       // argv joined by spaces (as recorded: masked by --redact)
  std::string program;       // basename of argv[0]: a bounded label
  std::string outcome;       // "exited", "killed", "alive", "unknown"
  std::optional<int> exit_code;  // a death by signal S counts as 128+S (what a shell sees)
  std::optional<std::string> signal;  // "SIGKILL"
  std::string category;      // "exit", "signal", "oom", "crash", ...
  std::string confidence;    // "certain", "likely", "unknown"
  std::optional<pid_t> sender_pid;
  std::optional<std::string> sender_comm;
  std::optional<uid_t> sender_uid;
  std::optional<std::string> sender_unit;
  std::string summary;       // the one-sentence cause
  double ended_at_s = 0;     // Unix time of the end (now, when unknown)
};

DeathFacts death_facts(const Certificate& certificate);

// The known facts as (KEY, value) pairs, unknown ones left out, in this order: PID, COMMAND,
// OUTCOME, EXIT_CODE, SIGNAL, CATEGORY, CONFIDENCE, SENDER_PID, SENDER_COMM, SENDER_UID,
// SENDER_UNIT, SUMMARY. A hook's environment and the journal's fields are DEATHWATCH_KEY.
std::vector<std::pair<std::string, std::string>> death_fields(const DeathFacts& facts);

}  // namespace deathwatch
