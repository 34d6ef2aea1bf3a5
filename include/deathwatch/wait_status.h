// One decoding of a wait status, so the tracer can switch on what happened.
#pragma once

#include <sys/types.h>

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

}  // namespace deathwatch
