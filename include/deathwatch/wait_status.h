// One decoding of a wait status, so the tracer can switch on what happened, and the one place
// that collects wait statuses.
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <optional>
#include <string>

namespace deathwatch {

struct WaitStatus {
  enum class Kind {
    Exited,            // the task exited; `value` is the exit code
    Killed,            // the task was killed; `value` is the signal, `core_dumped` set
    SignalDelivery,    // ptrace signal-delivery stop; `value` is the signal about to be delivered
    GroupStop,         // PTRACE_EVENT_STOP with a stop signal: the task entered a job-control stop
    EventStop,         // PTRACE_EVENT_STOP with SIGTRAP: PTRACE_INTERRUPT or a new tracee's first stop
    CloneEvent,        // PTRACE_EVENT_CLONE: a new thread (or clone() child) was created
    ForkEvent,         // PTRACE_EVENT_FORK / PTRACE_EVENT_VFORK: a new process was created
    VforkDoneEvent,    // PTRACE_EVENT_VFORK_DONE: the vfork child exec'd or exited
    ExecEvent,         // PTRACE_EVENT_EXEC: execve succeeded
    ExitEvent,         // PTRACE_EVENT_EXIT: the task is about to exit (status via GETEVENTMSG)
    PlainStop,         // a stop of an untraced child seen with WUNTRACED; `value` is the signal
    Continued,         // WCONTINUED: an untraced child resumed
    Unknown,           // anything else; logged, never acted on
  };
  Kind kind = Kind::Unknown;
  int value = 0;
  bool core_dumped = false;
  bool is_vfork = false;  // ForkEvent came from vfork

  // `traced` says whether the status came from a ptrace tracee (stops mean ptrace stops).
  static WaitStatus decode(int status, bool traced);
  std::string describe() const;
};

// One collected wait status of a child or tracee.
struct Reaped {
  pid_t pid = 0;
  int raw_status = 0;                  // wait4 form; decode with WaitStatus::decode
  std::optional<struct rusage> usage;  // only for `usage_of`'s end (see wait_next)
  // A ptrace stop read without being collected: reported again until the tracer answers
  // it (resumes, listens or detaches); collect_unanswered_stop otherwise.
  bool still_reported = false;
};

// Collects the next pending wait status of any child or tracee (__WALL, WNOHANG), or nothing
// when none is pending. Untraced (`traced` false), job-control stops and continues are asked
// for too (WUNTRACED, WCONTINUED); a tracer's stops are ptrace stops, always reported.
//
// The rusage is asked for only when `usage_of` itself ended: for every status collected with
// a rusage the kernel sums the times of each thread of the task's group (getrusage
// RUSAGE_BOTH in wait_task_stopped/wait_task_zombie), so asking at each stop and exit of N
// live threads costs N² (5,000 threads: seconds of system time). The status is first looked
// at without being collected (waitid WNOWAIT), then collected for that pid alone. If a
// ptrace stop of `usage_of` turns into its end in between (SIGKILL), its usage is unknown.
//
// A tracer's ptrace stop is not collected at all: the look (siginfo CLD_TRAPPED, si_status
// the stop's whole code, event bits included) already says what wait4 would, and answering
// the stop ends its report. One wait call per stop instead of two: a signal storm's every
// signal is a stop.
std::optional<Reaped> wait_next(bool traced, pid_t usage_of);

// Collects a stop that wait_next left reported and the tracer could not answer (its
// resume failed). Returns the status collected instead if the stop became an end (SIGKILL),
// with its rusage if `pid` is `usage_of`.
std::optional<Reaped> collect_unanswered_stop(pid_t pid, pid_t usage_of);

}  // namespace deathwatch
