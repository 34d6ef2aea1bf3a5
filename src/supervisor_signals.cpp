// The supervisor and deathwatch's own signals: what a process sends to deathwatch alone is
// forwarded to the target (once), Ctrl+Z stops deathwatch after the target, Ctrl+C ends a
// watch that has nothing of deathwatch's to forward to.
#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <iterator>

#include <spdlog/spdlog.h>

#include "deathwatch/own_signals.h"
#include "deathwatch/procfs.h"
#include "deathwatch/signals.h"
#include "deathwatch/supervisor.h"

namespace deathwatch {

void Supervisor::drain_own_signals() {
  struct signalfd_siginfo info[16];
  for (;;) {
    const ssize_t n = ::read(signal_fd_.get(), info, sizeof info);
    if (n <= 0) return;
    const ssize_t count = n / static_cast<ssize_t>(sizeof info[0]);
    for (ssize_t i = 0; i < count; ++i) on_own_signal(info[i]);
    // A short read emptied the queue: asking again would only fail with EAGAIN (one wasted
    // syscall per tracer stop in a storm). A signal that comes later wakes poll again.
    if (count < static_cast<ssize_t>(std::size(info))) return;
  }
}

void Supervisor::on_own_signal(const signalfd_siginfo& info) {
  const int signo = static_cast<int>(info.ssi_signo);
  const int code = info.ssi_code;
  if (signo == SIGCHLD) return;  // reaped below
  if (static_cast<pid_t>(info.ssi_pid) == ::getpid() && sent_by_process(code)) return;  // our own
  spdlog::debug("deathwatch received {} {} from pid {}", signal_name(signo),
                si_code_name(signo, code), info.ssi_pid);
  const bool ends_watch = signo == SIGINT || signo == SIGTERM || signo == SIGHUP || signo == SIGQUIT;
  if (ends_watch && (attached_ || target_done_)) {
    // Nothing of ours to forward to: the attached process is not in our job, the top is gone.
    spdlog::info("{}: ending the watch", signal_name(signo));
    end_requested_ = true;
    return;
  }
  if (is_stop_signal(signo) && !attached_) {
    // Ctrl+Z (or a background tty access) stops the whole job: the target gets its own
    // copy; deathwatch stops once the target has, so the shell sees the job stopped.
    stop_with_target_ = true;
  }
  if (!sent_by_process(code) || !is_forwarded(signo)) return;  // tty-made: target has its own
  forwarder_.request(signo, static_cast<pid_t>(info.ssi_pid),
                     read_sender(static_cast<pid_t>(info.ssi_pid), info.ssi_uid, boot_ticks_now()),
                     Clock::now());
}

void Supervisor::send_due_forwards() {
  if (target_done_) {
    forwarder_.clear();  // nothing left to forward to
    return;
  }
  forwarder_.send_due(
      Clock::now(),
      [this](int signo) {
        spdlog::info("forwarding {} to the target", signal_name(signo));
        return ::kill(target_, signo) == 0;
      },
      [this](int signo) { return signal_pending(target_, signo); },
      [this](int signo, const Sender& from) {
        if (mode_ != Mode::Plain) return;  // its delivery will be seen, and claimed
        // Without ptrace or eBPF the delivery cannot be seen: record the forward as sent.
        recorder_.record_unseen_forward(signo, from, WallClock::now());
        write_if_due();
      });
}

void Supervisor::maybe_stop_with_target() {
  if (!stop_with_target_ || !target_stopped_ || target_done_) return;
  stop_with_target_ = false;
  write_certificate();
  // Now the shell sees the job stopped; its SIGCONT (fg/bg) resumes us and the target.
  ::kill(::getpid(), SIGSTOP);
}

}  // namespace deathwatch
