#include "deathwatch/wait_status.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "deathwatch/signals.h"

namespace deathwatch {

WaitStatus WaitStatus::decode(int status, bool traced) {
  WaitStatus ws;
  if (WIFEXITED(status)) {
    ws.kind = Kind::Exited;
    ws.value = WEXITSTATUS(status);
    return ws;
  }
  if (WIFSIGNALED(status)) {
    ws.kind = Kind::Killed;
    ws.value = WTERMSIG(status);
    ws.core_dumped = WCOREDUMP(status);
    return ws;
  }
  if (WIFCONTINUED(status)) {
    ws.kind = Kind::Continued;
    return ws;
  }
  if (!WIFSTOPPED(status)) return ws;

  ws.value = WSTOPSIG(status);
  if (!traced) {
    ws.kind = Kind::PlainStop;
    return ws;
  }
  const int event = (status >> 16) & 0xff;
  switch (event) {
    case 0: ws.kind = Kind::SignalDelivery; break;
    case PTRACE_EVENT_STOP:
      // Under PTRACE_SEIZE a group-stop reports the stopping signal; everything else SIGTRAP.
      ws.kind = is_stop_signal(ws.value) ? Kind::GroupStop : Kind::EventStop;
      break;
    case PTRACE_EVENT_CLONE: ws.kind = Kind::CloneEvent; break;
    case PTRACE_EVENT_FORK: ws.kind = Kind::ForkEvent; break;
    case PTRACE_EVENT_VFORK: ws.kind = Kind::ForkEvent; ws.is_vfork = true; break;
    case PTRACE_EVENT_VFORK_DONE: ws.kind = Kind::VforkDoneEvent; break;
    case PTRACE_EVENT_EXEC: ws.kind = Kind::ExecEvent; break;
    case PTRACE_EVENT_EXIT: ws.kind = Kind::ExitEvent; break;
    default: ws.kind = Kind::Unknown; break;
  }
  return ws;
}

std::string WaitStatus::describe() const {
  switch (kind) {
    case Kind::Exited: return "exited " + std::to_string(value);
    case Kind::Killed: return "killed by " + signal_name(value) + (core_dumped ? " (core)" : "");
    case Kind::SignalDelivery: return "signal-delivery-stop " + signal_name(value);
    case Kind::GroupStop: return "group-stop " + signal_name(value);
    case Kind::EventStop: return "event-stop";
    case Kind::CloneEvent: return "clone-event";
    case Kind::ForkEvent: return is_vfork ? "vfork-event" : "fork-event";
    case Kind::VforkDoneEvent: return "vfork-done-event";
    case Kind::ExecEvent: return "exec-event";
    case Kind::ExitEvent: return "exit-event";
    case Kind::PlainStop: return "stopped by " + signal_name(value);
    case Kind::Continued: return "continued";
    case Kind::Unknown: return "unknown";
  }
  return "unknown";
}

}  // namespace deathwatch
