// The supervisor, attached (--pid): watching a process deathwatch did not start, its
// existing descendants, its end without a wait status, and letting it go unharmed.
#include <poll.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "deathwatch/procfs.h"
#include "deathwatch/supervisor.h"

namespace deathwatch {

void Supervisor::attach_target() {
  attached_ = true;
  target_ = *options_.attach_pid;
  auto st = read_proc_stat(target_);
  if (!st || st->state == 'Z')
    throw FatalError(kExitOwnFailure, "no running process " + std::to_string(target_));
  if (auto tgid = read_tgid(target_); tgid && *tgid != target_)
    throw FatalError(kExitOwnFailure, std::to_string(target_) + " is a thread of process " +
                                          std::to_string(*tgid) + "; give the process id");
  Sender identity = read_process_identity(target_);
  Certificate& c = recorder_.certificate();
  c.process.argv = identity.cmdline.value_or(std::vector<std::string>{});
  c.process.exe = identity.exe;
  c.process.cwd = read_link("/proc/" + std::to_string(target_) + "/cwd");
  c.process.started_at = start_time_from_ticks(st->start_ticks);
  recorder_.set_target(target_, identity);
  exec_confirmed_ = true;
  // Readable when the process ends, child of ours or not: its end is never missed, even if
  // it comes while the eBPF program is still loading.
  target_pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, target_, 0)));
  choose_backend([this] { return tracer_.seize_running_process(target_); });
  if (options_.follow) watch_existing_descendants(target_);
  c.watcher.backends.push_back(
      {"wait-status", mode_ == Mode::Ptrace, "as its tracer (deathwatch is not its parent)"});
  oom_probe_ = OomProbe::start(target_);
  recorder_.set_oom_probe(&*oom_probe_);
  for (auto& b : oom_probe_->backends()) c.watcher.backends.push_back(std::move(b));
  write_certificate();
}

void Supervisor::watch_existing_descendants(pid_t pid) {
  for (pid_t tid : list_numeric_entries("/proc/" + std::to_string(pid) + "/task")) {
    auto text = read_text_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/children");
    if (!text) continue;
    const std::string& t = *text;
    for (std::size_t pos = 0; pos < t.size();) {
      const auto end = t.find(' ', pos);
      const pid_t child = static_cast<pid_t>(std::atoi(t.substr(pos, end - pos).c_str()));
      pos = end == std::string::npos ? t.size() : end + 1;
      if (child <= 0 || recorder_.tree().is_descendant(child)) continue;
      bool watched = false;
      if (mode_ == Mode::Kernel) watched = kernel_->watch(child).ok();
      if (mode_ == Mode::Ptrace) watched = tracer_.seize_running_process(child).ok();
      if (!watched) continue;
      auto st = read_proc_stat(child);
      recorder_.record_existing_descendant(child, pid, st ? start_time_from_ticks(st->start_ticks) : WallClock::now(),
                                           read_process_identity(child));
      watch_existing_descendants(child);
    }
  }
}

void Supervisor::attached_target_ended() {
  if (kernel_) consume_kernel_events();  // its exit event, if the kernel reported it
  if (target_done_) return;
  target_done_ = true;
  recorder_.certificate().process.ended_at = WallClock::now();
  recorder_.certificate().outcome = Outcome{};
  warn("the attached process ended, but its exit status was not reported (not deathwatch's child)");
}

void Supervisor::end_watch() {
  // Let everything go as it is: tracees are detached with any signal in flight delivered.
  if (mode_ == Mode::Ptrace && tracer_.tracee_count() > 0) {
    tracer_.detach_all();
    const auto deadline = Clock::now() + std::chrono::seconds(2);
    while (tracer_.tracee_count() > 0 && Clock::now() < deadline) {
      struct pollfd fd = {signal_fd_.get(), POLLIN, 0};
      ::poll(&fd, 1, 50);
      drain_own_signals();
      reap();
    }
  }
  if (kernel_) consume_kernel_events();
  if (!target_done_) {
    recorder_.certificate().outcome.kind = OutcomeKind::Alive;
    recorder_.certificate().watch_ended_alive = true;
  }
}

}  // namespace deathwatch
