// Starting the target: found on PATH, stopped before its first instruction, its exec
// outcome reported back through a close-on-exec pipe.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "deathwatch/scoped_fd.h"

namespace deathwatch {

// deathwatch blocks and catches signals for itself; the target must start with the signal
// state deathwatch was given. Captured first thing in main, restored in the child.
class SignalSnapshot {
 public:
  static SignalSnapshot capture();
  // Async-signal-safe: runs in the forked child.
  void restore() const noexcept;

 private:
  sigset_t mask_{};
  struct sigaction actions_[NSIG]{};
};

struct LaunchedChild {
  pid_t pid = -1;
  std::string executable;  // the resolved path that was exec'd
  // Read end of the exec-report pipe: EOF when exec succeeded, else an int errno.
  ScopedFd exec_report;
};

// Resolves `argv[0]` and forks a child that restores `signals`, stops itself with SIGSTOP and
// then execs. Returns once the child is seen stopped (waitpid WSTOPPED), so the caller can
// seize it before exec. Throws FatalError(127) when the command is not found, (126) when it
// is not executable, (125) when fork fails.
LaunchedChild launch_stopped(const std::vector<std::string>& argv, const SignalSnapshot& signals);

// Exit status a shell would give for an exec failure with `err`: 127 for ENOENT, else 126.
int exec_failure_status(int err);

// Reads the exec report once the pipe is readable: nullopt when exec succeeded (EOF, the
// write end closed on exec), else the child's errno. Must not be called before the child is
// resumed and runs (it would block); the supervisor polls the fd with its other events.
std::optional<int> read_exec_report(int fd);

}  // namespace deathwatch
