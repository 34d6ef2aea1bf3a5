#include "deathwatch/supervisor.h"

#include <poll.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
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
      tracer_(*this, /*follow_forks=*/options_.follow) {
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
  // An inherited SIG_IGN (or SA_NOCLDWAIT) for SIGCHLD would auto-reap the target and
  // silence ptrace stops: deathwatch needs the default. The target gets back what was given.
  ::signal(SIGCHLD, SIG_DFL);

  if (options_.output) {
    auto writer = CertificateWriter::open(*options_.output, to_json(certificate_, WallClock::now()));
    if (!writer)  // before the target starts: nothing runs unwatched or half-recorded
      throw FatalError(kExitOwnFailure, "cannot write " + *options_.output + ": " +
                                            writer.error().describe());
    writer_.emplace(std::move(*writer));
  }

  if (options_.follow || ::getpid() == 1) {
    // Orphaned descendants are reparented to deathwatch, which reaps them (and, as PID 1 in
    // a container, every zombie: tini's job).
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  if (options_.attach_pid)
    attach_target();
  else
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
  if (options_.own_cgroup) {
    auto cgroup = OwnCgroup::create_for(target_);
    if (cgroup)
      own_cgroup_.emplace(std::move(*cgroup));
    else
      warn("--cgroup: " + cgroup.error().describe() + "; the target shares deathwatch's cgroup");
  }

  // Before it runs: the "before" OOM readings, and the kernel log from now on.
  oom_probe_ = OomProbe::start(target_);
  // The child is stopped before exec: choose how to watch it, strongest evidence first.
  choose_backend([this] { return tracer_.seize_stopped_child(target_); });
  if (mode_ != Mode::Ptrace) ::kill(target_, SIGCONT);  // the tracer resumes it itself
  certificate_.watcher.backends.push_back({"wait-status", true, "exit code or terminating signal, rusage"});
  for (auto& b : oom_probe_->backends()) certificate_.watcher.backends.push_back(std::move(b));
  write_certificate();
}

void Supervisor::choose_backend(const std::function<Status()>& seize) {
  auto& backends = certificate_.watcher.backends;
  tree_ = ProcessTree(target_);
  tree_.set_top_argv(certificate_.process.argv);
  auto kernel = KernelBackend::open(options_.follow);
  if (kernel && (*kernel)->watch(target_)) {
    kernel_ = std::move(*kernel);
    mode_ = Mode::Kernel;
    backends.push_back({"ebpf", true,
                        "signal_generate and " + kernel_->oom_hook() +
                            ": the sender of every signal, SIGKILL included, and OOM victims"});
    backends.push_back({"ptrace", false, "not needed: the kernel reports every signal without stopping the target"});
    return;
  }
  const std::string why = kernel ? "cannot watch the process" : kernel.error().describe();
  backends.push_back({"ebpf", false, why});
  if (std::getenv("DEATHWATCH_NO_BPF"))
    spdlog::info("eBPF backend off: {}", why);  // asked for: no warning
  else
    warn("eBPF backend unavailable (" + why + "): SIGKILL senders cannot be named");
  auto seized = seize();
  if (seized) {
    mode_ = Mode::Ptrace;
    backends.push_back({"ptrace", true, "signal-delivery stops: sender and siginfo of every catchable signal"});
    return;
  }
  if (attached_)
    throw FatalError(kExitOwnFailure, "cannot watch pid " + std::to_string(target_) + ": ptrace " +
                                          seized.error().describe() +
                                          " (another user's process, or ptrace restricted; as root "
                                          "the eBPF backend needs no ptrace)");
  // Seccomp, a container or an LSM refused ptrace: still run the target.
  mode_ = Mode::Plain;
  backends.push_back({"ptrace", false, seized.error().describe()});
  warn("ptrace not permitted (" + seized.error().describe() +
       "): running the command without it; signal senders cannot be named");
}

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
  certificate_.process.pid = target_;
  certificate_.process.argv = identity.cmdline.value_or(std::vector<std::string>{});
  certificate_.process.exe = identity.exe;
  certificate_.process.cwd = read_link("/proc/" + std::to_string(target_) + "/cwd");
  certificate_.process.started_at = start_time_from_ticks(st->start_ticks);
  target_identity_ = identity;
  exec_confirmed_ = true;
  // Readable when the process ends, child of ours or not: its end is never missed, even if
  // it comes while the eBPF program is still loading.
  target_pidfd_.reset(static_cast<int>(::syscall(SYS_pidfd_open, target_, 0)));
  choose_backend([this] { return tracer_.seize_running_process(target_); });
  if (options_.follow) watch_existing_descendants(target_);
  certificate_.watcher.backends.push_back(
      {"wait-status", mode_ == Mode::Ptrace, "as its tracer (deathwatch is not its parent)"});
  oom_probe_ = OomProbe::start(target_);
  for (auto& b : oom_probe_->backends()) certificate_.watcher.backends.push_back(std::move(b));
  write_certificate();
}

void Supervisor::watch_existing_descendants(pid_t pid) {
  for (pid_t tid : list_numeric_entries("/proc/" + std::to_string(pid) + "/task")) {
    auto text = read_text_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/children");
    if (!text) continue;
    std::size_t pos = 0;
    const std::string& t = *text;
    while (pos < t.size()) {
      const auto end = t.find(' ', pos);
      const pid_t child = static_cast<pid_t>(std::atoi(t.substr(pos, end - pos).c_str()));
      pos = end == std::string::npos ? t.size() : end + 1;
      if (child <= 0 || tree_.is_descendant(child)) continue;
      bool watched = false;
      if (mode_ == Mode::Kernel) watched = kernel_->watch(child).ok();
      if (mode_ == Mode::Ptrace) watched = tracer_.seize_running_process(child).ok();
      if (!watched) continue;
      auto st = read_proc_stat(child);
      tree_.on_start(child, pid, st ? start_time_from_ticks(st->start_ticks) : WallClock::now());
      const Sender id = read_process_identity(child);
      tree_.on_exec(child, id.cmdline.value_or(std::vector<std::string>{}), id.exe);
      watch_existing_descendants(child);
    }
  }
}

int Supervisor::poll_timeout_ms() const {
  auto now = Clock::now();
  std::optional<Clock::time_point> next;
  if (dirty_ && writer_) next = pacer_.due(news_pending_);
  if (target_done_ && (!next || next_prune_ < *next)) next = next_prune_;
  // The kernel queues bookkeeping events without waking us: collect them at least this often.
  if (kernel_ && (!next || now + kFlushPeriod < *next)) next = now + kFlushPeriod;
  if (auto due = forwarder_.next_due(); due && (!next || *due < *next)) next = due;
  if (!next) return -1;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*next - now).count();
  return static_cast<int>(std::clamp<long long>(ms + 1, 0, 1000));
}

bool Supervisor::watching() const {
  if (end_requested_) return false;
  if (!target_done_) return true;
  // The top is gone: orphaned descendants are still watched until they die.
  return options_.follow && tree_.alive_count() > 0;
}

void Supervisor::event_loop() {
  bool announced_orphans = false;
  while (watching()) {
    if (target_done_ && !announced_orphans) {
      announced_orphans = true;
      conclude_top();
      spdlog::warn("{} ended ({}); still watching {} descendant(s) it left running "
                   "(Ctrl+C or SIGTERM to deathwatch stops watching)",
                   certificate_.process.argv.empty() ? "the process" : certificate_.process.argv[0],
                   certificate_.outcome.describe(), tree_.alive_count());
      write_certificate();
    }
    struct pollfd fds[4] = {{signal_fd_.get(), POLLIN, 0},
                            {kernel_ ? kernel_->event_fd() : -1, POLLIN, 0},
                            {exec_report_.get(), POLLIN, 0},
                            {target_done_ ? -1 : target_pidfd_.get(), POLLIN, 0}};  // negative fds are skipped
    if (::poll(fds, 4, poll_timeout_ms()) < 0 && errno != EINTR)
      throw FatalError(kExitOwnFailure, std::string("poll: ") + std::strerror(errno));
    drain_own_signals();
    // Kernel events before wait statuses: a death is never handled before its cause.
    if (kernel_) consume_kernel_events();
    if (fds[2].revents) check_exec_report();
    if (fds[3].revents && mode_ != Mode::Ptrace) attached_target_ended();
    reap();
    send_due_forwards();
    maybe_stop_with_target();
    if (target_done_) prune_vanished_descendants();
    flush_if_due();
  }
  if (end_requested_) end_watch();
}

void Supervisor::attached_target_ended() {
  if (kernel_) consume_kernel_events();  // its exit event, if the kernel reported it
  if (target_done_) return;
  target_done_ = true;
  certificate_.process.ended_at = WallClock::now();
  certificate_.outcome = Outcome{};
  warn("the attached process ended, but its exit status was not reported (not deathwatch's child)");
}

void Supervisor::consume_kernel_events() {
  // The kernel already delivered these signals (nothing waits for deathwatch to re-inject
  // them): one write for the whole batch keeps the event log complete at a storm's pace.
  batching_events_ = true;
  kernel_->consume([this](const dw_event& e) { on_kernel_event(e); });
  batching_events_ = false;
  if (!pending_events_.empty() && writer_) append_events(pending_events_);
  pending_events_.clear();
}

void Supervisor::prune_vanished_descendants() {
  // A safety net, once a second: a descendant whose end was never reported (an event lost)
  // must not keep deathwatch waiting forever.
  const auto now = Clock::now();
  if (now < next_prune_) return;
  next_prune_ = now + std::chrono::seconds(1);
  for (pid_t pid : tree_.alive_pids()) {
    if (::kill(pid, 0) != 0 && errno == ESRCH) descendant_died(pid, Outcome{}, WallClock::now());
  }
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
    certificate_.outcome.kind = OutcomeKind::Alive;
    certificate_.watch_ended_alive = true;
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
        SignalRecord record;
        record.time = record.last_time = WallClock::now();
        record.pid = record.tid = target_;
        record.signo = signo;
        record.code = SI_USER;
        record.origin = SignalOrigin::Process;
        record.sender = read_process_identity(::getpid());
        record.forwarded_from = from;
        add_signal_record(std::move(record), true);
      });
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
  // The kernel's events about this process (its killer) come before its end.
  if (kernel_ && (ws.kind == WaitStatus::Kind::Exited || ws.kind == WaitStatus::Kind::Killed))
    consume_kernel_events();
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
      if (!same_pid_namespace(tgid)) {
        // si_pid is a pid in the receiver's namespace: /proc here would show another process.
        Sender s;
        s.uid = uid;
        s.user = user_name(uid);
        s.note = "sender pid " + std::to_string(info.si_pid) +
                 " is in the receiver's pid namespace, not deathwatch's: not looked up";
        return s;
      }
      return read_sender(info.si_pid, uid, boot_ticks_now());
    });
  }
  add_signal_record(std::move(record), names_other_process);
}

bool Supervisor::same_pid_namespace(pid_t pid) const {
  static const std::optional<std::string> own = read_link("/proc/self/ns/pid");
  const auto theirs = read_link("/proc/" + std::to_string(pid) + "/ns/pid");
  return !own || !theirs || *own == *theirs;
}

void Supervisor::on_kernel_event(const dw_event& e) {
  const pid_t tgid = static_cast<pid_t>(e.target_tgid);
  if (e.kind == DW_EVENT_OOM_VICTIM) {
    const bool is_target = tgid == target_ || static_cast<pid_t>(e.target_tid) == target_;
    if (!is_target && !tree_.is_descendant(tgid)) return;
    OomKill oom;
    oom.pid = is_target ? target_ : tgid;
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
    if (is_target)
      certificate_.oom = std::move(oom);
    else
      descendant_oom_[tgid] = std::move(oom);
    write_certificate();
    return;
  }
  if (e.kind == DW_EVENT_FORK) {
    on_process_start(tgid, static_cast<pid_t>(e.parent_tgid));
    return;
  }
  if (e.kind == DW_EVENT_EXEC) {
    // The path execve was given, as the kernel saw it (the process may be gone by now).
    const std::string filename(e.filename, strnlen(e.filename, sizeof e.filename));
    if (tgid == target_) {
      if (exec_confirmed_) {  // the first exec is confirmed by the exec report
        on_exec(tgid);
        if (!filename.empty() && !read_link("/proc/" + std::to_string(tgid) + "/exe"))
          certificate_.process.exe = filename;  // already gone: /proc/<pid>/exe is unreadable
      }
    } else if (tree_.is_descendant(tgid)) {
      tree_.on_exec(tgid, split_cmdline(std::string_view(e.args, std::min<unsigned>(e.args_len, DW_ARGS_LEN))),
                    filename.empty() ? std::nullopt : std::optional<std::string>(filename));
    }
    return;
  }
  if (e.kind == DW_EVENT_EXIT) {
    const Outcome outcome = outcome_from(WaitStatus::decode(e.exit_code, false));
    if (tgid != target_) {
      descendant_died(tgid, outcome, boot_ns_to_wall(e.boot_ns));
    } else if (attached_) {
      // Not our child: no wait status will come; this is the only report of its end.
      target_done_ = true;
      certificate_.process.ended_at = boot_ns_to_wall(e.boot_ns);
      certificate_.outcome = outcome;
    }
    return;
  }
  if (e.kind != DW_EVENT_SIGNAL) return;
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
  record.group = e.group != 0;
  static const char* const kResults[] = {"delivered", "ignored", "already pending", "queue overflow", "info lost"};
  record.kernel_result = e.result >= 0 && e.result < 5 ? kResults[e.result] : std::to_string(e.result);
  bool names_other_process = false;
  if (origin_names_sender(record.origin))
    names_other_process = attribute_sender(record, sender_tgid, [&] { return describe_current_task(e); });
  add_signal_record(std::move(record), names_other_process);
}

bool Supervisor::attribute_sender(SignalRecord& record, pid_t sender_tgid,
                                  const std::function<Sender()>& read_other) {
  if (sender_tgid == record.pid) {
    // A process signalling itself (abort(), raise()): the top's identity is cached; a
    // descendant's is at least its pid.
    if (record.pid == target_ && target_identity_) {
      record.sender = *target_identity_;
    } else {
      record.sender = Sender{};
      record.sender->pid = record.pid;
      if (const auto* argv = tree_.argv_of(record.pid); argv && !argv->empty()) record.sender->cmdline = *argv;
    }
    record.sender->source = "self";
    return false;
  }
  if (sender_tgid == ::getpid()) {
    record.sender = read_process_identity(sender_tgid);
    record.sender->note = "deathwatch itself";
    record.forwarded_from = forwarder_.claim(record.signo);
    return true;
  }
  // The target got its own copy of a signal that also reached deathwatch: no forward.
  if (record.pid == target_)
    forwarder_.target_received(record.signo, sender_tgid);
  record.sender = read_other();
  signalled_pids_.insert(record.pid);
  return true;
}

void Supervisor::add_signal_record(SignalRecord record, bool names_other_process) {
  const pid_t sender_pid = record.sender && record.sender->pid ? *record.sender->pid : -1;
  const RecordKey key{record.pid, record.signo, record.code, sender_pid,
                      record.forwarded_from.has_value()};
  if (writer_ && writer_->has_event_log()) {
    // Durable before the signal is re-injected: one append, whatever happens next. Repeats
    // beyond the log's bound are only counted (in the certificate).
    if (auto repeat = event_budget_.admit(record, names_other_process)) {
      if (batching_events_)
        pending_events_ += event_line(record, *repeat);  // written once the batch is consumed
      else
        append_events(event_line(record, *repeat));
    }
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
  // A new sender is on disk in the event log already; the certificate follows as soon as the
  // pacer allows, from the event loop: never a full rewrite while a tracee waits in its stop.
  if (names_other_process) news_pending_ = true;
  dirty_ = true;
}

void Supervisor::append_events(const std::string& lines) {
  auto st = writer_->append_event(lines);
  if (st || event_log_failed_) return;
  event_log_failed_ = true;  // said once; the certificate counts the lines at the end
  spdlog::error("{}: signal events are not all in the event log from now on (the certificate "
                "still counts them)", st.error().describe());
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

void Supervisor::on_process_start(pid_t pid, pid_t parent_tgid) {
  if (!options_.follow) return;
  tree_.on_start(pid, parent_tgid, WallClock::now());
  dirty_ = true;
}

void Supervisor::on_process_exiting(pid_t tgid, int raw_status) {
  if (tgid == target_ || !tree_.is_descendant(tgid)) return;
  // Read its command line now, while it still has its memory, but only for a death worth
  // listing: a normal exit (most of a busy supervisor's children) costs nothing here.
  const Outcome outcome = outcome_from(WaitStatus::decode(raw_status, false));
  if (outcome.is_normal() && !signalled_pids_.count(tgid)) return;
  const Sender id = read_process_identity(tgid);
  tree_.on_exec(tgid, id.cmdline.value_or(std::vector<std::string>{}), id.exe);
}

void Supervisor::descendant_died(pid_t pid, const Outcome& outcome, WallTime when) {
  std::optional<OomKill> oom;
  if (auto it = descendant_oom_.find(pid); it != descendant_oom_.end()) {
    oom = std::move(it->second);
    descendant_oom_.erase(it);
  } else if (outcome.signal == SIGKILL && oom_probe_) {
    oom = oom_probe_->kernel_log_victim(pid);  // without eBPF: the kernel log, if readable
  }
  if (oom && oom_probe_) oom_probe_->describe_cgroup(*oom, pid, ::getpid());
  if (tree_.on_exit(pid, outcome, when, certificate_.signals, std::move(oom))) dirty_ = true;
  signalled_pids_.erase(pid);
}

void Supervisor::on_process_exit(pid_t tgid, const WaitStatus& status, const struct rusage& usage) {
  if (tgid != target_) {
    descendant_died(tgid, outcome_from(status), WallClock::now());
    return;
  }
  if (exec_report_.is_open() && !exec_confirmed_) check_exec_report();
  target_done_ = true;
  certificate_.process.ended_at = WallClock::now();
  certificate_.outcome = outcome_from(status);
  certificate_.resources.max_rss_kib = usage.ru_maxrss;
  certificate_.resources.user_cpu_s = seconds(usage.ru_utime);
  certificate_.resources.sys_cpu_s = seconds(usage.ru_stime);
}

void Supervisor::flush_if_due() {
  if (dirty_ && writer_ && Clock::now() >= pacer_.due(news_pending_)) write_certificate();
}

void Supervisor::write_certificate() {
  const auto start = Clock::now();
  dirty_ = false;
  news_pending_ = false;
  if (options_.follow) {
    certificate_.descendants = tree_.snapshot();
    certificate_.descendant_counts = tree_.counts();
  }
  if (!writer_) return;
  if (certificate_.final && writer_->events_lost() && !events_lost_noted_) {
    events_lost_noted_ = true;
    certificate_.watcher.warnings.push_back(std::to_string(writer_->events_lost()) +
                                            " signal event(s) could not be written to " +
                                            writer_->events_path() + " (counted here)");
  }
  auto st = writer_->write_certificate(to_json(certificate_, WallClock::now()));
  pacer_.wrote(start, Clock::now());
  if (st) return;
  dirty_ = true;  // tried again at the next flush: space may come back
  if (certificate_.final)
    // deathwatch still mirrors the target's exit status; this line is the only sign.
    spdlog::error("the final certificate was not written: {} ({})", st.error().describe(),
                  writer_->target() == CertificateWriter::Target::Replace
                      ? writer_->path() + " holds the last one written"
                      : "nothing was written to " + writer_->path());
  else if (!certificate_write_failed_)
    spdlog::error("{} (retrying; only a failure of the final certificate is said again)",
                  st.error().describe());
  certificate_write_failed_ = true;
}

void Supervisor::conclude_top() {
  const Outcome& outcome = certificate_.outcome;
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
  if (options_.follow) certificate_.root_cause = tree_.root_cause(outcome, certificate_.cause);
  if (certificate_.root_cause) {
    // Not "by itself": a descendant's death explains the exit.
    certificate_.cause.summary = certificate_.root_cause->summary;
    certificate_.cause.evidence.push_back("root cause: descendant pid " +
                                          std::to_string(certificate_.root_cause->pid) + ": " +
                                          certificate_.root_cause->cause.summary);
  }
  certificate_.final = true;
}

void Supervisor::finish() {
  if (kernel_) {
    consume_kernel_events();
    if (auto lost = kernel_->dropped())
      warn(std::to_string(lost) + " kernel events were lost (ring buffer full)");
  }
  conclude_top();
  write_certificate();
  own_cgroup_.reset();  // now, not at destruction: deathwatch may end by raising a signal
  const Outcome& outcome = certificate_.outcome;
  if (outcome.kind == OutcomeKind::Killed) {
    death_signal_ = outcome.signal;
    exit_status_ = 128 + outcome.signal.value_or(0);
  } else if (outcome.kind == OutcomeKind::Alive) {
    exit_status_ = 0;  // the watch ended; the process lives on
  } else {
    exit_status_ = outcome.exit_code.value_or(kExitOwnFailure);
  }
}

}  // namespace deathwatch
