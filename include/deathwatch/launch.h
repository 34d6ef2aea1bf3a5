// Starting the target: found on PATH, held before exec until deathwatch watches it, its exec
// outcome reported back through a close-on-exec pipe.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "deathwatch/error.h"
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
  // Write end of the release pipe: one byte lets the child exec; closing it unwritten (or
  // deathwatch dying) makes the child _exit(125) without running the command.
  ScopedFd release;
};

// Resolves `argv[0]` and forks a child that waits, before exec, until release_child().
// Returns at once: the caller attaches its backend to `pid`, then releases it. The child
// restores `signals`, then execs with execvp's semantics (a file without a shebang runs
// under /bin/sh). Throws FatalError(127) when the command is not found, (126) when it is a
// directory or cannot be reached, (125) when fork fails.
struct LaunchOptions {
  // Empty the child's permitted and effective sets before exec (deathwatch holds file
  // capabilities its caller does not).
  bool drop_capabilities = false;
  // --kill-with-watcher: the command gets SIGKILL when deathwatch dies (PR_SET_PDEATHSIG).
  // Otherwise it outlives a killed deathwatch, as it would have lived without it.
  bool die_with_watcher = false;
};
LaunchedChild launch_waiting(const std::vector<std::string>& argv, const SignalSnapshot& signals,
                             const LaunchOptions& options = {});

// Lets the child go on to exec. The release pipe is closed either way.
Status release_child(LaunchedChild& child);

// Exit status a shell would give for an exec failure with `err`: 127 for ENOENT, else 126.
int exec_failure_status(int err);

// Reads the exec report once the pipe is readable: nullopt when exec succeeded (EOF, the
// write end closed on exec), else the child's errno. Must not be called before the child is
// resumed and runs (it would block); the supervisor polls the fd with its other events.
std::optional<int> read_exec_report(int fd);

// A set-uid/set-gid or file-capability program exec'd under a tracer without
// CAP_SYS_PTRACE silently runs without its privileges: the warning to give, if so.
std::optional<std::string> privilege_loss_warning(const std::string& exe);

}  // namespace deathwatch
