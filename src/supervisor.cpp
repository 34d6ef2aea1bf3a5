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
#include <cstdlib>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "deathwatch/procfs.h"
#include "deathwatch_events.h"
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
  auto& backends = certificate_.watcher.backends;
  if (options_.own_cgroup) {
    auto cgroup = OwnCgroup::create_for(target_);
    if (cgroup)
      own_cgroup_.emplace(std::move(*cgroup));
    else
      warn("--cgroup: " + cgroup.error().describe() + "; the target shares deathwatch's cgroup");
  }

  // The child is stopped before exec: choose how to watch it, strongest evidence first.
  auto kernel = KernelBackend::open(/*follow_children=*/false);
  if (kernel && (*kernel)->watch(target_)) {
    kernel_ = std::move(*kernel);
    mode_ = Mode::Kernel;
    ::kill(target_, SIGCONT);
    backends.push_back({"ebpf", true,
                        "signal_generate and " + kernel_->oom_hook() +
                            ": the sender of every signal, SIGKILL included, and OOM victims"});
    backends.push_back({"ptrace", false, "not needed: the kernel reports every signal without stopping the target"});
  } else {
    const std::string why = kernel ? "cannot watch the process" : kernel.error().describe();
    backends.push_back({"ebpf", false, why});
    if (std::getenv("DEATHWATCH_NO_BPF"))
      spdlog::info("eBPF backend off: {}", why);  // asked for: no warning
    else
      warn("eBPF backend unavailable (" + why + "): SIGKILL senders cannot be named");
    auto seized = tracer_.seize_stopped_child(target_);
    if (seized) {
      mode_ = Mode::Ptrace;
      backends.push_back(
          {"ptrace", true, "signal-delivery stops: sender and siginfo of every catchable signal"});
    } else {
      // Seccomp, a container or an LSM refused ptrace: still run the target.
      mode_ = Mode::Plain;
      ::kill(target_, SIGCONT);
      backends.push_back({"ptrace", false, seized.error().describe()});
      warn("ptrace not permitted (" + seized.error().describe() +
           "): running the command without it; signal senders cannot be named");
    }
  }
  backends.push_back({"wait-status", true, "exit code or terminating signal, rusage"});
  oom_probe_ = OomProbe::start(target_);
  for (auto& b : oom_probe_->backends()) backends.push_back(std::move(b));
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
    struct pollfd fds[3] = {{signal_fd_.get(), POLLIN, 0},
                            {kernel_ ? kernel_->event_fd() : -1, POLLIN, 0},
                            {exec_report_.get(), POLLIN, 0}};  // negative fds are skipped
    if (::poll(fds, 3, poll_timeout_ms()) < 0 && errno != EINTR)
      throw FatalError(kExitOwnFailure, std::string("poll: ") + std::strerror(errno));
    drain_own_signals();
    // Kernel events before wait statuses: a death is never handled before its cause.
    if (kernel_) kernel_->consume([this](const dw_event& e) { on_kernel_event(e); });
    if (fds[2].revents) check_exec_report();
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
                         Clock::now() + (mode_ == Mode::Plain ? std::chrono::milliseconds(0) : kForwardDelay)};
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
      if (mode_ != Mode::Plain) {
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
    if (mode_ != Mode::Ptrace) on_exec(target_);  // the tracer reports it in ptrace mode
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
    const bool traced = mode_ == Mode::Ptrace;
    const pid_t pid = ::wait4(-1, &status, __WALL | WNOHANG | (traced ? 0 : WUNTRACED | WCONTINUED), &usage);
    if (pid <= 0) return;
    if (traced)
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
    const uid_t uid = info.si_uid;
    names_other_process = attribute_sender(record, info.si_pid, [&]() -> Sender {
      const RecordKey key{tgid, info.si_signo, info.si_code, info.si_pid, false};
      auto known = record_index_.find(key);
      if (known != record_index_.end() && certificate_.signals[known->second].sender &&
          certificate_.signals[known->second].sender->uid == uid)
        return *certificate_.signals[known->second].sender;  // a repeat: read at the first one
      return read_sender(info.si_pid, uid, boot_ticks_now());
    });
  }
  add_signal_record(std::move(record), names_other_process);
}

void Supervisor::on_kernel_event(const dw_event& e) {
  const pid_t tgid = static_cast<pid_t>(e.target_tgid);
  if (e.kind == DW_EVENT_OOM_VICTIM) {
    if (tgid != target_ && static_cast<pid_t>(e.target_tid) != target_) return;
    OomKill oom;
    oom.pid = target_;
    oom.time = boot_ns_to_wall(e.boot_ns);
    oom.source = "ebpf " + kernel_->oom_hook();
    oom.confidence = Confidence::Certain;
    if (e.total_vm_kib) {
      oom.total_vm_kib = static_cast<long long>(e.total_vm_kib);
      oom.anon_rss_kib = static_cast<long long>(e.anon_rss_kib);
      oom.file_rss_kib = static_cast<long long>(e.file_rss_kib);
      oom.shmem_rss_kib = static_cast<long long>(e.shmem_rss_kib);
    }
    oom.triggered_by = describe_current_task(e);
    oom.evidence.push_back("kernel tracepoint oom:mark_victim named pid " + std::to_string(e.target_tid));
    certificate_.oom = std::move(oom);
    write_certificate();
    return;
  }
  if (e.kind == DW_EVENT_EXEC) {
    if (tgid == target_ && exec_confirmed_) on_exec(tgid);  // the first exec: exec report
    return;
  }
  if (e.kind != DW_EVENT_SIGNAL || tgid != target_) return;
  // TRACE_SIGNAL_IGNORED: discarded, the target never sees it. SIGCONT is kept: its effect
  // (resuming a stopped process) happens even when its delivery is ignored.
  if (e.result == 1 && e.sig != SIGCONT) return;
  const pid_t sender_tgid = static_cast<pid_t>(e.cur_tgid);
  if (!exec_confirmed_ && e.sig == SIGCONT && sender_tgid == ::getpid()) return;  // our start-up SIGCONT

  SignalRecord record;
  record.time = record.last_time = boot_ns_to_wall(e.boot_ns);
  record.pid = tgid;
  record.tid = static_cast<pid_t>(e.target_tid);
  record.signo = e.sig;
  record.code = e.code;
  record.origin = classify_origin(e.sig, e.code);
  if (record.origin == SignalOrigin::Fault) record.fault_address = e.fault_addr;
  bool names_other_process = false;
  if (origin_names_sender(record.origin))
    names_other_process = attribute_sender(record, sender_tgid, [&] { return describe_current_task(e); });
  add_signal_record(std::move(record), names_other_process);
}

bool Supervisor::attribute_sender(SignalRecord& record, pid_t sender_tgid,
                                  const std::function<Sender()>& read_other) {
  if (sender_tgid == record.pid && target_identity_) {
    record.sender = *target_identity_;
    record.sender->source = "self";
    return false;
  }
  if (sender_tgid == ::getpid()) {
    record.sender = read_process_identity(sender_tgid);
    record.sender->note = "deathwatch itself";
    auto it = std::find_if(forwarded_.begin(), forwarded_.end(),
                           [&](const PendingForward& f) { return f.signo == record.signo; });
    if (it != forwarded_.end()) {
      record.forwarded_from = it->sender;
      forwarded_.erase(it);
    }
    return true;
  }
  // The target got its own copy of a signal that also reached deathwatch: no forward.
  if (record.pid == target_)
    std::erase_if(pending_forwards_, [&](const PendingForward& f) {
      return f.signo == record.signo && f.sender_pid == sender_tgid;
    });
  record.sender = read_other();
  return true;
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
    // Only a ptrace tracer strips set-uid and file capabilities at exec.
    if (mode_ == Mode::Ptrace)
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
  if (kernel_) {
    kernel_->consume([this](const dw_event& e) { on_kernel_event(e); });
    if (auto lost = kernel_->dropped())
      warn(std::to_string(lost) + " kernel events were lost (ring buffer full)");
  }
  if (outcome.kind == OutcomeKind::Killed && outcome.signal == SIGKILL && oom_probe_) {
    if (!certificate_.oom) {
      certificate_.oom = oom_probe_->conclude(target_, ::getpid());
    } else {
      oom_probe_->describe_cgroup(*certificate_.oom, target_, ::getpid());
    }
  }
  if (exec_failed_) {
    certificate_.cause.category = CauseCategory::Exit;
    certificate_.cause.confidence = Confidence::Certain;
    certificate_.cause.summary = "could not be executed";
    certificate_.cause.evidence = {certificate_.watcher.warnings.back()};
  } else {
    certificate_.cause = decide_cause(outcome, target_, certificate_.signals,
                                      certificate_.process.ended_at.value_or(WallClock::now()),
                                      certificate_.oom);
    if (mode_ != Mode::Kernel && certificate_.cause.category == CauseCategory::Signal &&
        !certificate_.cause.sender && outcome.signal == SIGKILL)
      certificate_.cause.evidence.push_back(
          "to name SIGKILL senders, run deathwatch as root or grant it "
          "cap_bpf,cap_perfmon+ep (eBPF backend: " +
          certificate_.watcher.backends.front().detail + ")");
  }
  certificate_.final = true;
  write_certificate();
  own_cgroup_.reset();  // now, not at destruction: deathwatch may end by raising a signal
  if (outcome.kind == OutcomeKind::Killed) {
    death_signal_ = outcome.signal;
    exit_status_ = 128 + outcome.signal.value_or(0);
  } else {
    exit_status_ = outcome.exit_code.value_or(kExitOwnFailure);
  }
}

}  // namespace deathwatch
