// The command line: deathwatch [OPTIONS] -- COMMAND [ARG...]  |  deathwatch [OPTIONS] --pid PID
#pragma once

#include <optional>
#include <sys/types.h>

#include <string>
#include <vector>

#include "deathwatch/last_words.h"

namespace deathwatch {

struct Options {
  std::vector<std::string> command;
  std::optional<std::string> output;  // -o FILE: JSON certificate
  bool quiet = false;                 // -q: report on stderr only for abnormal deaths
  int verbosity = 0;                  // -v, -vv: deathwatch's own diagnostics on stderr
  bool own_cgroup = false;            // --cgroup: run the target in a memory cgroup of its own
  bool follow = true;                 // follow descendants (--no-follow: the top process only)
  std::optional<pid_t> attach_pid;    // --pid PID: watch a running process instead of a command
  // --last-words: whose backtrace, fault, syscall and state at death are captured
  LastWordsPolicy last_words = LastWordsPolicy::Abnormal;
  mode_t file_mode = 0640;            // --mode: permissions of the certificate and event log
  std::vector<std::string> redact;    // --redact REGEX: masked in every recorded command line
  bool kill_with_watcher = false;     // --kill-with-watcher: the command dies if deathwatch does
  std::optional<std::string> termination_log;  // --termination-log FILE: the cause, for Kubernetes
  std::optional<std::string> on_death;         // --on-death CMD: run once the certificate is final
  std::optional<std::string> metrics;          // --metrics FILE: Prometheus textfile, accumulated
  bool journal = false;  // --journal: the certificate as a journal entry (also when stderr is the journal)
};

// Parses argv. Returns the options, or an exit status when deathwatch should stop here
// (--help and --version print and give 0; a usage error prints one line and gives 125).
struct ParsedCommandLine {
  std::optional<Options> options;
  int exit_status = 0;
};
ParsedCommandLine parse_command_line(int argc, char** argv);
// "0640", "640", "600": an octal permission mode (no set-id or sticky bits).
std::optional<mode_t> parse_file_mode(const std::string& text);

}  // namespace deathwatch
