#include "deathwatch/tracer.h"

#include <signal.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include "deathwatch/procfs.h"
#include "deathwatch/ptrace_calls.h"
#include "deathwatch/signals.h"

#include <dirent.h>
#include <cstdlib>

namespace deathwatch {

std::vector<pid_t> list_numeric_entries(const std::string& dir) {
  std::vector<pid_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
  }
  ::closedir(d);
  return out;
}

Status Tracer::seize_stopped_child(pid_t pid) {
  if (auto st = ptrace_seize(pid, trace_options(follow_forks_)); !st) return st;
  // The child sits in the group-stop of its own SIGSTOP. PTRACE_INTERRUPT turns that into a
  // ptrace stop we will be told about; SIGCONT ends the group-stop (its delivery is ours to
  // swallow, see on_signal_delivery). This is strace's start-up order.
  if (auto st = ptrace_interrupt(pid); !st) return st;
  tracees_[pid] = Tracee{pid, TraceeState::StartingUp};
  if (::kill(pid, SIGCONT) != 0) return SysError::from_errno("kill SIGCONT " + std::to_string(pid));
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
  if (tgid == tid) {
    // Its parent, from /proc (the fork event that would say so has not come yet).
    auto st = read_proc_stat(tid);
    observer_.on_process_start(tid, st ? st->ppid : 0);
  }
  return tracees_[tid];
}

void Tracer::dispatch(pid_t tid, int raw_status, const struct rusage* usage) {
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
      resume_tracee(tid, Resume::Continue, 0);
      return;
    case Kind::ExecEvent:
      on_exec_event(tid, tracee);
      resume_tracee(tid, Resume::Continue, 0);
      return;
    case Kind::ExitEvent:  // about to exit; the final status follows
      if (tid == tracee.tgid) {
        if (auto status = ptrace_geteventmsg(tid))
          observer_.on_process_exiting(tid, static_cast<int>(*status));
      }
      resume_tracee(tid, Resume::Continue, 0);
      return;
    case Kind::EventStop:  // PTRACE_INTERRUPT or a new tracee's first stop
      if (tracee.new_descendant) {
        tracee.new_descendant = false;
        (void)ptrace_setoptions(tid, descendant_trace_options());
      }
      resume_tracee(tid, Resume::Continue, 0);
      return;
    case Kind::VforkDoneEvent:
    case Kind::Unknown:
      resume_tracee(tid, Resume::Continue, 0);
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
    if (auto info = ptrace_getsiginfo(tid)) observer_.on_signal(tracee.tgid, tid, *info);
    deliver = ws.value;
  }
  (void)ptrace_detach(tid, deliver);
  tracees_.erase(tid);
}

void Tracer::on_signal_delivery(pid_t tid, Tracee& tracee, int signo) {
  auto info = ptrace_getsiginfo(tid);
  if (!info) {
    // ESRCH: the tracee is dying (SIGKILL); nothing to deliver.
    if (info.error().err != ESRCH) spdlog::error("{}", info.error().describe());
    return;
  }
  if (tracee.state == TraceeState::StartingUp && signo == SIGCONT &&
      info->si_code == SI_USER && info->si_pid == ::getpid()) {
    // Our own start-up SIGCONT: the target must never see it, nor the certificate.
    tracee.state = TraceeState::Running;
    resume_tracee(tid, Resume::Continue, 0);
    return;
  }
  observer_.on_signal(tracee.tgid, tid, *info);
  // Re-injecting the same number keeps the whole siginfo the kernel queued.
  resume_tracee(tid, Resume::Continue, signo);
}

void Tracer::on_group_stop(pid_t tid, Tracee& tracee, int signo) {
  if (tracee.state == TraceeState::StartingUp) {
    // The child's own pre-exec SIGSTOP, not a user's Ctrl+Z: let it run.
    resume_tracee(tid, Resume::Continue, 0);
    return;
  }
  const bool first_report = tracee.state != TraceeState::GroupStopped;
  tracee.state = TraceeState::GroupStopped;
  // PTRACE_LISTEN keeps it stopped exactly as without a tracer (PTRACE_CONT would run it).
  if (resume_tracee(tid, Resume::Listen, 0) && first_report)
    observer_.on_group_stop(tracee.tgid, signo, true);
}

void Tracer::leave_group_stop(Tracee& tracee) {
  tracee.state = TraceeState::Running;
  observer_.on_group_stop(tracee.tgid, 0, false);
}

void Tracer::on_new_task_event(pid_t tid, const WaitStatus& ws) {
  auto msg = ptrace_geteventmsg(tid);
  if (!msg) return;
  const pid_t child = static_cast<pid_t>(*msg);
  if (tracees_.count(child)) return;  // its first stop came first
  pid_t tgid = child;
  if (ws.kind == WaitStatus::Kind::CloneEvent) {
    // PTRACE_EVENT_CLONE covers threads and clone() children with an odd exit signal.
    tgid = read_tgid(child).value_or(tracees_[tid].tgid);
  }
  tracees_[child] = Tracee{tgid, TraceeState::Running, /*new_descendant=*/tgid == child};
  if (tgid == child) observer_.on_process_start(child, tracees_[tid].tgid);
}

void Tracer::on_exec_event(pid_t tid, Tracee& tracee) {
  // Start-up is over at the latest here (if SIGCONT was blocked in the inherited mask, its
  // delivery stop that normally ends it never comes).
  if (tracee.state == TraceeState::StartingUp) tracee.state = TraceeState::Running;
  // A non-leader thread that exec'd takes over the leader's tid; every other thread of the
  // group is gone without further notice that we could rely on.
  const pid_t tgid = tracee.tgid;
  for (auto it = tracees_.begin(); it != tracees_.end();) {
    if (it->second.tgid == tgid && it->first != tid)
      it = tracees_.erase(it);
    else
      ++it;
  }
  observer_.on_exec(tgid);
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
  for (auto jt = tracees_.begin(); jt != tracees_.end();) {
    if (jt->second.tgid == tgid)
      jt = tracees_.erase(jt);
    else
      ++jt;
  }
  observer_.on_process_exit(tgid, ws, usage);
}

}  // namespace deathwatch
