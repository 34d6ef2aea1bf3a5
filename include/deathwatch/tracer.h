// The ptrace state machine: every thread of every watched process is a Tracee, and every
// wait status is decoded once (WaitStatus) and dispatched on its kind.
//
// The tracer makes no decisions about meaning: it tells a TraceObserver what happened and
// resumes each tracee the way that keeps the target's behaviour unchanged.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <string>
#include <unordered_map>
#include <vector>

#include "deathwatch/error.h"
#include "deathwatch/wait_status.h"

namespace deathwatch {

// The numeric entries of a /proc directory (/proc/<pid>/task: thread ids).
std::vector<pid_t> list_numeric_entries(const std::string& dir);

// What the tracer reports. Every callback runs while the tracee is stopped, so the observer
// can read /proc and write to disk before the target moves on.
class TraceObserver {
 public:
  virtual ~TraceObserver() = default;
  // At a signal-delivery stop, before the same signal (same siginfo) is re-injected.
  virtual void on_signal(pid_t tgid, pid_t tid, const siginfo_t& info) = 0;
  // A thread of `tgid` entered (stopped = true) or left (false) a job-control stop.
  virtual void on_group_stop(pid_t tgid, int signo, bool stopped) = 0;
  // execve succeeded in `tgid`.
  virtual void on_exec(pid_t tgid) = 0;
  // A traced process created process `pid` (following children).
  virtual void on_process_start(pid_t pid, pid_t parent_tgid) = 0;
  // The leader of `tgid` is about to exit with `raw_status` (wait-status form): its memory,
  // and so its command line, can still be read.
  virtual void on_process_exiting(pid_t tgid, int raw_status) = 0;
  // The thread group `tgid` is gone: `status` is its leader's final wait status; `usage` its
  // rusage, or null when it was not collected (see wait_next).
  virtual void on_process_exit(pid_t tgid, const WaitStatus& status, const struct rusage* usage) = 0;
};

class Tracer {
 public:
  Tracer(TraceObserver& observer, bool follow_forks)
      : observer_(observer), follow_forks_(follow_forks) {}

  // Seizes `pid`, which the caller has already seen stopped by its own SIGSTOP before exec
  // (launch.h), and lets it go with SIGCONT. The resulting SIGCONT delivery is suppressed.
  // Fails (EPERM, ...) without changing the child's state.
  Status seize_stopped_child(pid_t pid);

  // Handles one wait status of a tracee; `usage` is its wait4 rusage, if collected.
  void dispatch(pid_t tid, int raw_status, const struct rusage* usage);

  // Seizes every thread of a running process (attach, --pid). Threads created while this
  // runs are caught by the clone events of those already seized.
  Status seize_running_process(pid_t pid);
  // Lets every tracee go, each with the signal it was about to receive (nothing is lost or
  // delivered twice). The tracees run on as if never traced.
  void detach_all();

  std::size_t tracee_count() const { return tracees_.size(); }

 private:
  enum class TraceeState {
    StartingUp,     // seized while stopped before exec; waiting for deathwatch's own SIGCONT
    Running,        // normal: every stop is reported and the tracee resumed
    GroupStopped,   // in a job-control stop, held with PTRACE_LISTEN
    Detaching,      // interrupted so it can be detached at its next stop
  };
  struct Tracee {
    pid_t tgid = 0;
    TraceeState state = TraceeState::Running;
    bool new_descendant = false;  // first stop pending: switch to descendant_trace_options()
  };

  Tracee& tracee_for(pid_t tid);
  void on_signal_delivery(pid_t tid, Tracee& tracee, int signo);
  void on_group_stop(pid_t tid, Tracee& tracee, int signo);
  void on_new_task_event(pid_t tid, const WaitStatus& ws);
  void on_exec_event(pid_t tid, Tracee& tracee);
  void on_task_gone(pid_t tid, const WaitStatus& ws, const struct rusage* usage);
  void leave_group_stop(Tracee& tracee);
  void detach_at_stop(pid_t tid, Tracee& tracee, const WaitStatus& ws);

  TraceObserver& observer_;
  bool follow_forks_;
  std::unordered_map<pid_t, Tracee> tracees_;
};

}  // namespace deathwatch
