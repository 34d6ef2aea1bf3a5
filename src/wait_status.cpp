#include "deathwatch/wait_status.h"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include <cerrno>

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

std::optional<Reaped> wait_next(bool traced, pid_t usage_of) {
  const int flags = __WALL | WNOHANG | (traced ? 0 : WUNTRACED | WCONTINUED);
  for (;;) {
    siginfo_t peek{};
    if (::waitid(P_ALL, 0, &peek, flags | WEXITED | WNOWAIT) != 0) {
      if (errno == EINTR) continue;
      return std::nullopt;  // ECHILD: nothing left to wait for
    }
    if (peek.si_pid == 0) return std::nullopt;  // nothing pending
    // wait4's form of a stop: the stop code above 0x7f. An exec event is the exception, and
    // is collected: after a thread other than the leader exec'd (it took the leader's pid),
    // ptrace requests fail with ESRCH until the event is waited for (the kernel's
    // looks_like_a_spurious_pid in ptrace_freeze_traced).
    if (traced && peek.si_code == CLD_TRAPPED && (peek.si_status >> 8) != PTRACE_EVENT_EXEC)
      return Reaped{peek.si_pid, (peek.si_status << 8) | 0x7f, std::nullopt, /*still_reported=*/true};
    // A ptrace stop holds the tracee until it is resumed; any other status of usage_of may
    // already be (or become) its end, so it is collected with the rusage.
    const bool want_usage = peek.si_pid == usage_of && peek.si_code != CLD_TRAPPED;
    Reaped r;
    struct rusage usage {};
    const pid_t got = ::wait4(peek.si_pid, &r.raw_status, flags, want_usage ? &usage : nullptr);
    if (got == peek.si_pid) {
      r.pid = got;
      if (want_usage) r.usage = usage;
      return r;
    }
    if (got == 0 || (got < 0 && errno == EINTR)) continue;  // it changed in between: look again
    return std::nullopt;
  }
}

std::optional<Reaped> collect_unanswered_stop(pid_t pid, pid_t usage_of) {
  Reaped r;
  struct rusage usage {};
  for (;;) {
    const pid_t got = ::wait4(pid, &r.raw_status, __WALL | WNOHANG, pid == usage_of ? &usage : nullptr);
    if (got == pid) break;
    if (got < 0 && errno == EINTR) continue;
    return std::nullopt;  // gone, or no longer stopped
  }
  r.pid = pid;
  if (WIFSTOPPED(r.raw_status)) return std::nullopt;  // the stop itself: collected, nothing new
  if (pid == usage_of) r.usage = usage;
  return r;
}

}  // namespace deathwatch
