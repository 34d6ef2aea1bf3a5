#include "deathwatch/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "deathwatch/procfs.h"
#include "deathwatch/signals.h"
#include "deathwatch/verdict.h"

namespace deathwatch {

namespace {

// Signals deathwatch takes synchronously through its signalfd instead of their default
// action: it must survive them to write the certificate.
constexpr int kOwnSignals[] = {SIGCHLD, SIGTERM, SIGINT,  SIGHUP,  SIGQUIT, SIGUSR1, SIGUSR2,
                               SIGTSTP, SIGTTIN, SIGTTOU, SIGCONT, SIGWINCH, SIGALRM};

// Signals that, sent to deathwatch alone by a process, are passed on to the target.
bool is_forwarded(int signo) {
  switch (signo) {
    case SIGTERM: case SIGINT: case SIGHUP: case SIGQUIT: case SIGUSR1: case SIGUSR2:
    case SIGTSTP: case SIGCONT: case SIGALRM:
      return true;
    default:
      return false;
  }
}

bool sent_by_process(int code) { return code == SI_USER || code == SI_QUEUE || code == SI_TKILL; }

Outcome outcome_from(const WaitStatus& ws) {
  Outcome o;
  if (ws.kind == WaitStatus::Kind::Exited) {
    o.kind = OutcomeKind::Exited;
    o.exit_code = ws.value;
  } else if (ws.kind == WaitStatus::Kind::Killed) {
    o.kind = OutcomeKind::Killed;
    o.signal = ws.value;
    o.core_dumped = ws.core_dumped;
  }
  return o;
}

double seconds(const struct timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

// A set-uid/set-gid or file-capability program exec'd under a tracer without CAP_SYS_PTRACE
// silently runs without its privileges.
std::optional<std::string> privilege_loss_warning(const std::string& exe) {
  if (::geteuid() == 0) return std::nullopt;
  struct stat st {};
  if (::stat(exe.c_str(), &st) != 0) return std::nullopt;
  const bool setid = (st.st_mode & S_ISUID) || (st.st_mode & S_ISGID);
  const bool caps = ::getxattr(exe.c_str(), "security.capability", nullptr, 0) > 0;
  if (!setid && !caps) return std::nullopt;
  return exe + " is " + (setid ? "set-uid/set-gid" : "given file capabilities") +
         ": traced by an unprivileged deathwatch it runs WITHOUT those privileges";
}

}  // namespace

Supervisor::Supervisor(Options options, SignalSnapshot original_signals)
    : options_(std::move(options)),
      original_signals_(original_signals),
      tracer_(*this, /*follow_forks=*/false) {
  certificate_.watcher.version = DEATHWATCH_VERSION;
  certificate_.process.argv = options_.command;
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  if (!ec) certificate_.process.cwd = cwd.string();
}

void Supervisor::warn(const std::string& message) {
  spdlog::warn("{}", message);
  certificate_.watcher.warnings.push_back(message);
  dirty_ = true;
}

int Supervisor::run() {
  sigset_t own;
  sigemptyset(&own);
  for (int signo : kOwnSignals) sigaddset(&own, signo);
  if (::sigprocmask(SIG_BLOCK, &own, nullptr) != 0)
    throw FatalError(kExitOwnFailure, std::string("sigprocmask: ") + std::strerror(errno));
  signal_fd_.reset(::signalfd(-1, &own, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!signal_fd_.is_open())
    throw FatalError(kExitOwnFailure, std::string("signalfd: ") + std::strerror(errno));
  // A closed stderr must not kill deathwatch; the child gets its original disposition back.
  ::signal(SIGPIPE, SIG_IGN);

  if (options_.output) {
    auto writer = CertificateWriter::open(*options_.output, to_json(certificate_, WallClock::now()));
    if (!writer)
      throw FatalError(kExitOwnFailure, "cannot write " + *options_.output + ": " +
                                            std::strerror(writer.error().err));
    writer_.emplace(std::move(*writer));
  }

  start_target();
  event_loop();
  finish();
  return exit_status_;
}

void Supervisor::start_target() {
  LaunchedChild child = launch_stopped(options_.command, original_signals_);
  target_ = child.pid;
  exec_report_ = std::move(child.exec_report);
  certificate_.process.pid = target_;
  certificate_.process.exe = child.executable;
  certificate_.process.started_at = WallClock::now();

  auto seized = tracer_.seize_stopped_child(target_);
  traced_ = seized.ok();
  if (traced_) {
    certificate_.watcher.backends.push_back(
        {"ptrace", true, "signal-delivery stops: sender and siginfo of every catchable signal"});
  } else {
    // Seccomp, a container or an LSM refused ptrace: still run the target, unwatched signals.
    ::kill(target_, SIGCONT);
    certificate_.watcher.backends.push_back({"ptrace", false, seized.error().describe()});
    warn("ptrace not permitted (" + seized.error().describe() +
         "): running the command without it; signal senders cannot be named");
  }
  certificate_.watcher.backends.push_back(
      {"wait-status", true, "exit code or terminating signal, rusage"});
  write_certificate();
}

int Supervisor::poll_timeout_ms() const {
  auto now = Clock::now();
  std::optional<Clock::time_point> next;
  if (dirty_ && writer_) next = last_flush_ + kFlushPeriod;
  for (const auto& f : pending_forwards_)
    if (!next || f.due < *next) next = f.due;
  if (!next) return -1;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*next - now).count();
  return static_cast<int>(std::clamp<long long>(ms + 1, 0, 1000));
}

void Supervisor::event_loop() {
  while (!target_done_) {
    struct pollfd fds[2] = {{signal_fd_.get(), POLLIN, 0}, {exec_report_.get(), POLLIN, 0}};
    const nfds_t count = exec_report_.is_open() ? 2 : 1;
    if (::poll(fds, count, poll_timeout_ms()) < 0 && errno != EINTR)
      throw FatalError(kExitOwnFailure, std::string("poll: ") + std::strerror(errno));
    drain_own_signals();
    if (count == 2 && fds[1].revents) check_exec_report();
    reap();
    send_due_forwards();
    maybe_stop_with_target();
    flush_if_due();
  }
}

void Supervisor::drain_own_signals() {
  struct signalfd_siginfo info[16];
  for (;;) {
    const ssize_t n = ::read(signal_fd_.get(), info, sizeof info);
    if (n <= 0) return;
    for (ssize_t i = 0; i < n / static_cast<ssize_t>(sizeof info[0]); ++i) on_own_signal(info[i]);
  }
}

void Supervisor::on_own_signal(const signalfd_siginfo& info) {
  const int signo = static_cast<int>(info.ssi_signo);
  const int code = info.ssi_code;
  if (signo == SIGCHLD || signo == SIGWINCH) return;  // reaped below / the tty tells the target
  spdlog::debug("deathwatch received {} {} from pid {}", signal_name(signo),
                si_code_name(signo, code), info.ssi_pid);
  if (is_stop_signal(signo)) {
    // Ctrl+Z (or a background tty access) stops the whole job: the target gets its own
    // copy; deathwatch stops once the target has, so the shell sees the job stopped.
    stop_with_target_ = true;
  }
  if (!sent_by_process(code) || !is_forwarded(signo)) return;  // tty-made: target has its own
  PendingForward forward{signo, static_cast<pid_t>(info.ssi_pid),
                         read_sender(static_cast<pid_t>(info.ssi_pid), info.ssi_uid, boot_ticks_now()),
                         Clock::now() + (traced_ ? kForwardDelay : std::chrono::milliseconds(0))};
  pending_forwards_.push_back(std::move(forward));
}

void Supervisor::send_due_forwards() {
  const auto now = Clock::now();
  for (auto it = pending_forwards_.begin(); it != pending_forwards_.end();) {
    if (it->due > now || target_done_) {
      ++it;
      continue;
    }
    spdlog::info("forwarding {} from {} to the target", signal_name(it->signo),
                 it->sender.short_description());
    if (::kill(target_, it->signo) == 0) {
      if (traced_) {
        forwarded_.push_back(*it);
      } else {
        // Without ptrace the delivery cannot be seen: record the forward as sent.
        SignalRecord record;
        record.time = record.last_time = WallClock::now();
        record.pid = record.tid = target_;
        record.signo = it->signo;
        record.code = SI_USER;
        record.origin = SignalOrigin::Process;
        record.sender = read_process_identity(::getpid());
        record.forwarded_from = it->sender;
        add_signal_record(std::move(record), true);
      }
    }
    it = pending_forwards_.erase(it);
  }
}

void Supervisor::check_exec_report() {
  auto err = read_exec_report(exec_report_.get());
  exec_report_.reset();
  if (!err) {
    exec_confirmed_ = true;
    return;
  }
  exec_failed_ = true;
  // Not logged: main prints this as the single line of an exec failure.
  certificate_.watcher.warnings.push_back(options_.command[0] + ": cannot execute: " +
                                          std::strerror(*err));
}

void Supervisor::reap() {
  for (;;) {
    int status = 0;
    struct rusage usage {};
    const pid_t pid = ::wait4(-1, &status, __WALL | WNOHANG | (traced_ ? 0 : WUNTRACED | WCONTINUED), &usage);
    if (pid <= 0) return;
    if (traced_)
      tracer_.dispatch(pid, status, usage);
    else
      on_plain_wait_status(pid, status, usage);
  }
}

void Supervisor::on_plain_wait_status(pid_t pid, int raw_status, const struct rusage& usage) {
  const WaitStatus ws = WaitStatus::decode(raw_status, /*traced=*/false);
  switch (ws.kind) {
    case WaitStatus::Kind::Exited:
    case WaitStatus::Kind::Killed:
      on_process_exit(pid, ws, usage);
      return;
    case WaitStatus::Kind::PlainStop:
      on_group_stop(pid, ws.value, true);
      return;
    case WaitStatus::Kind::Continued:
      on_group_stop(pid, 0, false);
      return;
    default:
      return;
  }
}

void Supervisor::on_signal(pid_t tgid, pid_t tid, const siginfo_t& info) {
  SignalRecord record;
  record.time = record.last_time = WallClock::now();
  record.pid = tgid;
  record.tid = tid;
  record.signo = info.si_signo;
  record.code = info.si_code;
  record.origin = classify_origin(info.si_signo, info.si_code);
  if (record.origin == SignalOrigin::Fault)
    record.fault_address = reinterpret_cast<std::uintptr_t>(info.si_addr);

  bool names_other_process = false;
  if (origin_names_sender(record.origin)) {
    const pid_t sender = info.si_pid;
    if (sender == tgid && target_identity_) {
      record.sender = *target_identity_;
      record.sender->source = "self";
    } else if (sender == ::getpid()) {
      auto it = std::find_if(forwarded_.begin(), forwarded_.end(),
                             [&](const PendingForward& f) { return f.signo == info.si_signo; });
      record.sender = read_process_identity(sender);
      record.sender->note = "deathwatch itself";
      if (it != forwarded_.end()) {
        record.forwarded_from = it->sender;
        forwarded_.erase(it);
      }
      names_other_process = true;
    } else {
      // The target got its own copy of a signal that also reached deathwatch: no forward.
      pending_forwards_.erase(
          std::remove_if(pending_forwards_.begin(), pending_forwards_.end(),
                         [&](const PendingForward& f) {
                           return tgid == target_ && f.signo == info.si_signo && f.sender_pid == sender;
                         }),
          pending_forwards_.end());
      const RecordKey key{tgid, info.si_signo, info.si_code, sender, false};
      auto known = record_index_.find(key);
      if (known != record_index_.end() && certificate_.signals[known->second].sender &&
          certificate_.signals[known->second].sender->uid == static_cast<uid_t>(info.si_uid)) {
        // A repeat from the same sender: its identity was read at the first one.
        record.sender = certificate_.signals[known->second].sender;
      } else {
        record.sender = read_sender(sender, info.si_uid, boot_ticks_now());
      }
      names_other_process = true;
    }
  }
  add_signal_record(std::move(record), names_other_process);
}

void Supervisor::add_signal_record(SignalRecord record, bool names_other_process) {
  const pid_t sender_pid = record.sender && record.sender->pid ? *record.sender->pid : -1;
  const RecordKey key{record.pid, record.signo, record.code, sender_pid,
                      record.forwarded_from.has_value()};
  if (writer_) {
    // Durable before the signal is re-injected: one append, whatever happens next.
    if (auto st = writer_->append_event(event_line(record)); !st)
      spdlog::error("{}", st.error().describe());
  }
  auto known = record_index_.find(key);
  if (known != record_index_.end()) {
    SignalRecord& existing = certificate_.signals[known->second];
    existing.count += 1;
    existing.last_time = record.time;
    existing.tid = record.tid;
    if (record.fault_address) existing.fault_address = record.fault_address;
    dirty_ = true;
    return;
  }
  if (certificate_.signals.size() >= kMaxSignalRecords) {
    ++certificate_.signals_not_listed;
    dirty_ = true;
    return;
  }
  record_index_.emplace(key, certificate_.signals.size());
  certificate_.signals.push_back(std::move(record));
  // A new sender is in the certificate itself before its signal reaches the target.
  if (names_other_process)
    write_certificate();
  else
    dirty_ = true;
}

void Supervisor::on_group_stop(pid_t tgid, int signo, bool stopped) {
  if (tgid != target_) return;
  spdlog::debug("target {} job-control stop{}", stopped ? "entered" : "left",
                stopped ? " (" + signal_name(signo) + ")" : "");
  target_stopped_ = stopped;
}

void Supervisor::maybe_stop_with_target() {
  if (!stop_with_target_ || !target_stopped_ || target_done_) return;
  stop_with_target_ = false;
  write_certificate();
  // Now the shell sees the job stopped; its SIGCONT (fg/bg) resumes us and the target.
  ::kill(::getpid(), SIGSTOP);
}

void Supervisor::on_exec(pid_t tgid) {
  if (tgid != target_) return;
  exec_confirmed_ = true;
  const std::string dir = "/proc/" + std::to_string(tgid);
  if (auto exe = read_link(dir + "/exe")) {
    certificate_.process.exe = *exe;
    if (auto warning = privilege_loss_warning(*exe)) warn(*warning);
  }
  target_identity_ = read_process_identity(tgid);
  dirty_ = true;
}

void Supervisor::on_process_exit(pid_t tgid, const WaitStatus& status, const struct rusage& usage) {
  if (tgid != target_) return;
  if (exec_report_.is_open() && !exec_confirmed_) check_exec_report();
  target_done_ = true;
  certificate_.process.ended_at = WallClock::now();
  certificate_.outcome = outcome_from(status);
  certificate_.resources.max_rss_kib = usage.ru_maxrss;
  certificate_.resources.user_cpu_s = seconds(usage.ru_utime);
  certificate_.resources.sys_cpu_s = seconds(usage.ru_stime);
}

void Supervisor::flush_if_due() {
  if (dirty_ && writer_ && Clock::now() - last_flush_ >= kFlushPeriod) write_certificate();
}

void Supervisor::write_certificate() {
  dirty_ = false;
  last_flush_ = Clock::now();
  if (!writer_) return;
  if (auto st = writer_->write_certificate(to_json(certificate_, WallClock::now())); !st)
    spdlog::error("{}", st.error().describe());
}

void Supervisor::finish() {
  const Outcome& outcome = certificate_.outcome;
  if (exec_failed_) {
    certificate_.cause.category = CauseCategory::Exit;
    certificate_.cause.confidence = Confidence::Certain;
    certificate_.cause.summary = "could not be executed";
    certificate_.cause.evidence = {certificate_.watcher.warnings.back()};
  } else {
    certificate_.cause = decide_cause(outcome, target_, certificate_.signals,
                                      certificate_.process.ended_at.value_or(WallClock::now()));
  }
  certificate_.final = true;
  write_certificate();
  if (outcome.kind == OutcomeKind::Killed) {
    death_signal_ = outcome.signal;
    exit_status_ = 128 + outcome.signal.value_or(0);
  } else {
    exit_status_ = outcome.exit_code.value_or(kExitOwnFailure);
  }
}

}  // namespace deathwatch
