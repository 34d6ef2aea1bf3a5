#include "deathwatch/tracer.h"

#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "deathwatch/death_scene.h"
#include "deathwatch/procfs.h"
#include "deathwatch/ptrace_calls.h"
#include "deathwatch/signals.h"

#include <cstdlib>

namespace deathwatch {

namespace {

// A signal-delivery stop's siginfo, as an observation: the sender is si_pid/si_uid, to be
// looked up in /proc while the tracee is held.
SignalSeen signal_seen(pid_t tgid, pid_t tid, const siginfo_t& info) {
  SignalSeen seen;
  seen.time = WallClock::now();
  seen.pid = tgid;
  seen.tid = tid;
  seen.signo = info.si_signo;
  seen.code = info.si_code;
  // The action the process has set decides what this delivery does: an ignored signal is
  // discarded by the kernel once re-injected, so it is never a cause.
  seen.disposition = read_disposition(tgid, tid, info.si_signo);
  const SignalOrigin origin = classify_origin(info.si_signo, info.si_code);
  if (origin == SignalOrigin::Fault) seen.fault_address = reinterpret_cast<std::uintptr_t>(info.si_addr);
  if (origin_names_sender(origin)) seen.sender = SignalSender{info.si_pid, info.si_uid, std::nullopt};
  return seen;
}

}  // namespace

Status Tracer::seize_waiting_child(pid_t pid) {
  // The child is blocked reading its release pipe (launch.h): seizing needs no stop, and
  // the first stop it shows is its exec.
  if (auto st = ptrace_seize(pid, trace_options(follow_forks_)); !st) return st;
  tracees_[pid] = Tracee{pid, TraceeState::Running};
  return Ok{};
}

Status Tracer::seize_running_process(pid_t pid) {
  const std::string task_dir = "/proc/" + std::to_string(pid) + "/task";
  // Threads may start while we list them: repeat until a pass finds nothing new. Threads
  // started by an already seized thread are attached by the kernel (PTRACE_O_TRACECLONE).
  for (int pass = 0; pass < 16; ++pass) {
    bool seized_any = false;
    for (pid_t tid : list_numeric_entries(task_dir)) {
      if (tracees_.count(tid)) continue;
      if (auto st = ptrace_seize(tid, trace_options(follow_forks_)); !st) {
        if (tid == pid) return st;  // the process itself: not permitted, or gone
        continue;                   // a thread that just exited
      }
      tracees_[tid] = Tracee{pid, TraceeState::Running};
      seized_any = true;
    }
    if (!seized_any) break;
  }
  if (!tracees_.count(pid)) return SysError{"no such process " + std::to_string(pid), ESRCH};
  return Ok{};
}

void Tracer::detach_all() {
  born_before_event_.clear();
  for (auto& [tid, tracee] : tracees_) {
    tracee.state = TraceeState::Detaching;
    // Into a ptrace stop, where PTRACE_DETACH is allowed; see dispatch().
    (void)ptrace_interrupt(tid);
  }
}

Tracer::Tracee& Tracer::tracee_for(pid_t tid) {
  auto it = tracees_.find(tid);
  if (it != tracees_.end()) return it->second;
  // A new task's first stop can arrive before its creator's clone/fork event.
  const pid_t tgid = read_tgid(tid).value_or(tid);
  spdlog::debug("new tracee {} (tgid {}) seen before its creation event", tid, tgid);
  tracees_[tid] = Tracee{tgid, TraceeState::Running, /*new_descendant=*/tgid == tid};
  const auto now = std::chrono::steady_clock::now();
  if (born_before_event_.size() >= 4096) {  // creators killed before their events
    std::erase_if(born_before_event_, [&](const auto& e) { return now - e.second > kCreationEventDelay; });
  }
  born_before_event_[tid] = now;
  if (tgid == tid) {
    // Its parent, from /proc (the fork event that would say so has not come yet).
    auto st = read_proc_stat(tid);
    observer_.observe(ProcessStarted{tid, st ? st->ppid : 0, WallClock::now()});
  }
  return tracees_[tid];
}

bool Tracer::resume(pid_t tid, Resume how, int signo) {
  answered_ = resume_tracee(tid, how, signo);
  return answered_;
}

bool Tracer::dispatch(pid_t tid, int raw_status, const struct rusage* usage) {
  answered_ = false;
  handle(tid, raw_status, usage);
  return answered_;
}

void Tracer::handle(pid_t tid, int raw_status, const struct rusage* usage) {
  const WaitStatus ws = WaitStatus::decode(raw_status, /*traced=*/true);
  spdlog::trace("tid {}: {}", tid, ws.describe());
  using Kind = WaitStatus::Kind;

  if (ws.kind == Kind::Exited || ws.kind == Kind::Killed) {
    on_task_gone(tid, ws, usage);
    return;
  }
  Tracee& tracee = tracee_for(tid);
  if (tracee.state == TraceeState::Detaching) {
    detach_at_stop(tid, tracee, ws);
    return;
  }
  if (ws.kind != Kind::GroupStop && tracee.state == TraceeState::GroupStopped)
    leave_group_stop(tracee);

  switch (ws.kind) {
    case Kind::SignalDelivery:
      on_signal_delivery(tid, tracee, ws.value);
      return;
    case Kind::GroupStop:
      on_group_stop(tid, tracee, ws.value);
      return;
    case Kind::CloneEvent:
    case Kind::ForkEvent:
      on_new_task_event(tid, ws);
      resume(tid, Resume::Continue, 0);
      return;
    case Kind::ExecEvent:
      on_exec_event(tid, tracee);
      resume(tid, Resume::Continue, 0);
      return;
    case Kind::ExitEvent:  // about to exit; the final status follows
      // Its status: for the leader's ProcessExiting, and for every thread's last words.
      if (tid == tracee.tgid || last_words_ != LastWordsPolicy::Never) {
        if (auto status = ptrace_geteventmsg(tid)) {
          if (tid == tracee.tgid) observer_.observe(ProcessExiting{tid, static_cast<int>(*status)});
          capture_at_exit(tid, tracee, static_cast<int>(*status));
        }
      }
      resume(tid, Resume::Continue, 0);
      return;
    case Kind::EventStop:  // PTRACE_INTERRUPT or a new tracee's first stop
      if (tracee.new_descendant) {
        tracee.new_descendant = false;
        (void)ptrace_setoptions(tid, descendant_trace_options());
      }
      resume(tid, Resume::Continue, 0);
      return;
    case Kind::VforkDoneEvent:
    case Kind::Unknown:
      resume(tid, Resume::Continue, 0);
      return;
    case Kind::Exited:
    case Kind::Killed:
    case Kind::PlainStop:
    case Kind::Continued:
      return;  // handled above, or impossible for a tracee
  }
}

void Tracer::detach_at_stop(pid_t tid, Tracee& tracee, const WaitStatus& ws) {
  int deliver = 0;
  if (ws.kind == WaitStatus::Kind::SignalDelivery) {
    // A signal caught in flight goes on with the detach: observed, and delivered once.
    if (auto info = ptrace_getsiginfo(tid)) observer_.observe(signal_seen(tracee.tgid, tid, *info));
    deliver = ws.value;
  }
  answered_ = ptrace_detach(tid, deliver).ok();
  tracees_.erase(tid);
}

void Tracer::on_signal_delivery(pid_t tid, Tracee& tracee, int signo) {
  auto info = ptrace_getsiginfo(tid);
  if (!info) {
    // ESRCH: the tracee is dying (SIGKILL); nothing to deliver.
    if (info.error().err != ESRCH) spdlog::error("{}", info.error().describe());
    return;
  }
  const SignalSeen seen = signal_seen(tracee.tgid, tid, *info);
  observer_.observe(seen);
  capture_fatal_delivery(tid, tracee, *info, seen.disposition);
  // Re-injecting the same number keeps the whole siginfo the kernel queued.
  resume(tid, Resume::Continue, signo);
}

void Tracer::capture_fatal_delivery(pid_t tid, Tracee& tracee, const siginfo_t& info, Disposition disposition) {
  // Delivered with its default action, a terminating signal ends the process on resume
  // (an Unknown disposition, /proc unreadable, is taken as the default).
  if (last_words_ == LastWordsPolicy::Never || disposition == Disposition::Handled ||
      disposition == Disposition::Ignored ||
      !is_terminating_by_default(info.si_signo) || death_captured_.count(tracee.tgid))
    return;
  death_captured_.insert(tracee.tgid);
  observer_.observe(DeathCaptured{capture_stopped_thread(tracee.tgid, tid, DeathTrigger::FatalSignal, &info,
                                                         std::nullopt),
                                  true});
}

void Tracer::capture_at_exit(pid_t tid, Tracee& tracee, int raw_status) {
  if (last_words_ == LastWordsPolicy::Never || death_captured_.count(tracee.tgid)) return;
  const bool clean = WIFEXITED(raw_status) && WEXITSTATUS(raw_status) == 0;
  if (clean && last_words_ != LastWordsPolicy::Always) return;
  // The thread that called exit_group is in it (orig_rax 231); the others were taken down by
  // the group exit, or by a SIGKILL that no thread saw delivered. Of those, only the leader
  // stands in, until (if ever) the initiator's exit arrives.
  auto regs = ptrace_getregs(tid);
  if (!regs) return;
  const bool initiator = (*regs)[kOrigRax] == SYS_exit_group && WIFEXITED(raw_status);
  if (!initiator && tid != tracee.tgid) return;
  if (initiator) death_captured_.insert(tracee.tgid);
  std::optional<int> code;
  if (initiator) code = WEXITSTATUS(raw_status);
  DeathScene scene = capture_stopped_thread(tracee.tgid, tid, DeathTrigger::ExitCall, nullptr, code, *regs);
  if (!initiator) {
    if (WIFSIGNALED(raw_status)) {
      scene.trigger = DeathTrigger::FatalSignal;
      scene.signo = WTERMSIG(raw_status);
    }
    scene.captured_by = "ptrace PTRACE_EVENT_EXIT (a thread the death took)";
  }
  observer_.observe(DeathCaptured{std::move(scene), initiator});
}

void Tracer::on_group_stop(pid_t tid, Tracee& tracee, int signo) {
  const bool first_report = tracee.state != TraceeState::GroupStopped;
  tracee.state = TraceeState::GroupStopped;
  // PTRACE_LISTEN keeps it stopped exactly as without a tracer (PTRACE_CONT would run it).
  if (resume(tid, Resume::Listen, 0) && first_report)
    observer_.observe(JobControl{tracee.tgid, signo, true});
}

void Tracer::leave_group_stop(Tracee& tracee) {
  tracee.state = TraceeState::Running;
  observer_.observe(JobControl{tracee.tgid, 0, false});
}

void Tracer::on_new_task_event(pid_t tid, const WaitStatus& ws) {
  auto msg = ptrace_geteventmsg(tid);
  if (!msg) return;
  const pid_t child = static_cast<pid_t>(*msg);
  // Its first stop came first (it may even have ended since), or a seizing pass found it.
  if (auto early = born_before_event_.find(child); early != born_before_event_.end()) {
    const bool stale = std::chrono::steady_clock::now() - early->second > kCreationEventDelay;
    born_before_event_.erase(early);
    if (!stale) return;
  }
  if (tracees_.count(child)) return;
  pid_t tgid = child;
  if (ws.kind == WaitStatus::Kind::CloneEvent) {
    // PTRACE_EVENT_CLONE covers threads and clone() children with an odd exit signal.
    tgid = read_tgid(child).value_or(tracees_[tid].tgid);
  }
  tracees_[child] = Tracee{tgid, TraceeState::Running, /*new_descendant=*/tgid == child};
  if (tgid == child) observer_.observe(ProcessStarted{child, tracees_[tid].tgid, WallClock::now()});
}

void Tracer::on_exec_event(pid_t tid, Tracee& tracee) {
  // A non-leader thread that exec'd takes over the leader's tid; every other thread of the
  // group is gone without further notice that we could rely on.
  const pid_t tgid = tracee.tgid;
  for (auto it = tracees_.begin(); it != tracees_.end();) {
    if (it->second.tgid == tgid && it->first != tid)
      it = tracees_.erase(it);
    else
      ++it;
  }
  observer_.observe(ProcessExeced{tgid, std::nullopt, std::nullopt});
}

void Tracer::on_task_gone(pid_t tid, const WaitStatus& ws, const struct rusage* usage) {
  auto it = tracees_.find(tid);
  if (it == tracees_.end()) {
    // A thread already dropped when its group exec'd: nothing left to say about it.
    spdlog::debug("untracked task {} {}", tid, ws.describe());
    return;
  }
  const pid_t tgid = it->second.tgid;
  tracees_.erase(it);
  // Only the leader's final status says how the process ended: a leader that called
  // pthread_exit is reported after all its threads.
  if (tid != tgid) return;
  death_captured_.erase(tgid);
  for (auto jt = tracees_.begin(); jt != tracees_.end();) {
    if (jt->second.tgid == tgid)
      jt = tracees_.erase(jt);
    else
      ++jt;
  }
  observer_.observe(ProcessEnded{tgid, ws, WallClock::now(),
                                   usage ? std::optional<struct rusage>(*usage) : std::nullopt});
}

}  // namespace deathwatch
