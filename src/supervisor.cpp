#include "deathwatch/supervisor.h"

#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <utility>

#include <spdlog/spdlog.h>

#include "deathwatch/journal_sink.h"
#include "deathwatch/operator_sinks.h"
#include "deathwatch/own_signals.h"
#include "deathwatch/procfs.h"
#include "deathwatch/report.h"
#include "deathwatch/signals.h"
#include "deathwatch/stderr_writer.h"
#include "deathwatch/working_set.h"

namespace deathwatch {

namespace {

// deathwatch's own path, for the setcap advice.
std::string own_executable() { return read_link("/proc/self/exe").value_or("deathwatch"); }

}  // namespace

Supervisor::Supervisor(Options options, SignalSnapshot original_signals, ReportOptions report,
                       Privileges privileges)
    : options_(std::move(options)),
      privileges_(privileges),
      redactor_(std::make_shared<const Redactor>(options_.redact)),
      original_signals_(original_signals),
      report_(report),
      recorder_(lookup_, forwarder_, outputs_, ::getpid(), options_.follow),
      tracer_(*this, /*follow_forks=*/options_.follow, options_.last_words) {
  recorder_.set_last_words(&last_words_reader_, options_.last_words);
  Certificate& c = recorder_.certificate();
  c.watcher.version = DEATHWATCH_VERSION;
  c.watcher.pid = ::getpid();
  c.process.argv = options_.command;
  std::error_code ec;
  auto cwd = std::filesystem::current_path(ec);
  if (!ec) c.process.cwd = cwd.string();
}

std::function<bool(pid_t)> Supervisor::from_watched_tree() const {
  return [this](pid_t pid) { return pid == target_ || recorder_.tree().is_descendant(pid); };
}

void Supervisor::warn(const std::string& message) {
  std::string shown = message;
  redactor_->apply(shown);
  spdlog::warn("{}", escape_for_terminal(shown));  // may quote a path or command line
  recorder_.warn(message);
}

int Supervisor::run() {
  signal_fd_ = take_own_signals();
  if (options_.attach_pid) {
    // Before anything is loaded or written: deathwatch's capabilities must not reach a
    // process its caller could not trace.
    if (auto may = privileges_.check_caller_may_trace(*options_.attach_pid); !may)
      throw FatalError(kExitOwnFailure, "--pid " + std::to_string(*options_.attach_pid) + ": " +
                                            may.error().describe());
  }
  start_kernel_load();
  open_outputs();
  if (options_.follow || ::getpid() == 1) {
    // Orphaned descendants are reparented to deathwatch, which reaps them (and, as PID 1 in
    // a container, every zombie: tini's job).
    ::prctl(PR_SET_CHILD_SUBREAPER, 1);
  }
  if (options_.attach_pid) {
    attach_target();
  } else {
    // Before the fork: the command inherits NOTIFY_SOCKET naming the relay.
    if (auto relay = NotifyRelay::from_environment()) {
      if (*relay)
        notify_relay_.emplace(std::move(**relay));
      else
        warn("Type=notify relay unavailable: " + relay->error().describe());
    }
    start_target();
  }
  // Whatever happened above (a command not found never reaches the backend): no capability
  // is kept for the watch.
  if (auto dropped = privileges_.drop_all(); !dropped)
    throw FatalError(kExitOwnFailure, "cannot drop capabilities: " + dropped.error().describe());
  event_loop();
  finish();
  return exit_status_;
}

void Supervisor::start_kernel_load() {
  // Runs in a helper process on another CPU while the outputs are opened and the command is
  // prepared; choose_backend collects it.
  const auto raised = privileges_.raise();  // only to load and attach: the helper inherits them
  std::optional<KernelBackend::Owner> owner;
  if (!privileges_.caller_is_root()) owner = KernelBackend::Owner{privileges_.caller_uid(), privileges_.caller_gid()};
  kernel_load_.emplace(KernelBackend::start_loading(options_.follow, options_.last_words, owner));
}

void Supervisor::open_outputs() {
  outputs_.set_redactor(redactor_);
  if (options_.output) {
    // Refused before the target starts: a certificate that cannot be written is no watch.
    auto writer = CertificateWriter::open(*options_.output, to_json(recorder_.certificate(), WallClock::now()),
                                          options_.file_mode);
    if (!writer)
      throw FatalError(kExitOwnFailure, "cannot write " + *options_.output + ": " +
                                            writer.error().describe());
    auto shared = std::make_shared<CertificateWriter>(std::move(*writer));
    outputs_.add(event_log_sink(shared));
    outputs_.add(certificate_file_sink(shared));
  }
  outputs_.add(stderr_report_sink(report_));
  // Then what operators' tools read, in the order a person would want them done.
  auto termination_log = options_.termination_log;
  if (!termination_log && ::getpid() == 1 && path_exists(kKubernetesTerminationLog))
    termination_log = kKubernetesTerminationLog;
  if (termination_log) outputs_.add(termination_log_sink(*termination_log));
  if (options_.journal || stderr_is_journal_stream()) outputs_.add(journal_sink(options_.output.value_or("")));
  if (options_.metrics) outputs_.add(metrics_file_sink(*options_.metrics));
  if (options_.on_death) outputs_.add(death_hook_sink(*options_.on_death, options_.output.value_or("")));
}

void Supervisor::start_target() {
  Certificate& c = recorder_.certificate();
  LaunchedChild child;
  try {
    child = launch_waiting(options_.command, original_signals_,
                           {privileges_.elevated(), options_.kill_with_watcher});
  } catch (const FatalError& e) {
    if (e.exit_status() == kExitOwnFailure) throw;
    // Not found, or not even reachable: as final a certificate as a failed exec gets.
    kernel_load_.reset();  // nothing to watch: the helper is stopped and reaped now
    target_done_ = true;
    c.process.started_at = WallClock::now();
    c.process.ended_at = c.process.started_at;
    c.exec_error = e.what();
    c.watcher.warnings.push_back(e.what());
    c.outcome.kind = OutcomeKind::Exited;
    c.outcome.exit_code = e.exit_status();
    return;
  }
  target_ = child.pid;
  exec_report_ = std::move(child.exec_report);
  launch_exec_event_due_ = true;
  c.process.exe = child.executable;
  c.process.started_at = WallClock::now();
  recorder_.set_target(target_);
  if (options_.own_cgroup) {
    auto cgroup = OwnCgroup::create_for(target_);
    if (cgroup)
      own_cgroup_.emplace(std::move(*cgroup));
    else
      warn("--cgroup: " + cgroup.error().describe() + "; the target shares deathwatch's cgroup");
  }
  // Before it runs: the "before" OOM readings, and the kernel log from now on.
  oom_probe_ = OomProbe::start(target_);
  recorder_.set_oom_probe(&*oom_probe_);
  // The child waits before exec: choose how to watch it, strongest evidence first.
  choose_backend([this] { return tracer_.seize_waiting_child(target_); });
  c.watcher.backends.push_back({"wait-status", true, "exit code or terminating signal, rusage"});
  for (auto& b : oom_probe_->backends()) c.watcher.backends.push_back(std::move(b));
  // Only now, with the backend attached, may the command run. EPIPE: the child died before
  // its release (killed meanwhile); its wait status says how.
  if (auto st = release_child(child); !st && st.error().err != EPIPE) warn(st.error().describe());
  // The record on disk names the command, its pid and the backends. Written while the
  // command execs rather than before it may (the rename alone is 0.3-0.5 ms of start-up):
  // nothing observed is lost meanwhile, a ptrace stop or a ring-buffer record waits for the
  // loop, and the certificate written at open_outputs is on disk already.
  write_certificate();
}

void Supervisor::choose_backend(const std::function<Status()>& seize) {
  auto& backends = recorder_.certificate().watcher.backends;
  auto kernel = kernel_load_ ? KernelBackend::open(std::move(*kernel_load_), options_.last_words)
                             : Result<std::unique_ptr<KernelBackend>>(SysError{"eBPF load not started", 0});
  kernel_load_.reset();
  // Attached, or refused: from here deathwatch needs no capability the caller lacks. Not
  // dropping them is no option: the watch would go on with powers the caller does not have.
  if (auto dropped = privileges_.drop_all(); !dropped)
    throw FatalError(kExitOwnFailure, "cannot drop capabilities: " + dropped.error().describe());
  if (kernel && (*kernel)->watch(target_)) {
    kernel_ = std::move(*kernel);
    mode_ = Mode::Kernel;
    backends.push_back({"ebpf", true,
                        "signal_generate and " + kernel_->oom_hook() +
                            ": the sender of every signal, SIGKILL included, and OOM victims"});
    backends.push_back({"ptrace", false, "not needed: the kernel reports every signal without stopping the target"});
    backends.push_back({"last-words", kernel_->last_words_active(), kernel_->last_words_hook()});
    return;
  }
  const std::string why = kernel ? "cannot watch the process" : kernel.error().describe();
  backends.push_back({"ebpf", false, why});
  // Not a warning: a missing privilege is no event. It is in watcher.backends, and the
  // report says it only where it changed the answer (Recorder::conclude).
  spdlog::info("eBPF backend off: {}", why);
  auto seized = seize();
  if (seized) {
    mode_ = Mode::Ptrace;
    backends.push_back({"ptrace", true, "signal-delivery stops: sender and siginfo of every catchable signal"});
    backends.push_back({"last-words", options_.last_words != LastWordsPolicy::Never,
                        options_.last_words == LastWordsPolicy::Never
                            ? "off (--last-words=never)"
                            : "PTRACE_EVENT_EXIT and fatal signal-delivery stops, unwound with libdw"});
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

int Supervisor::poll_timeout_ms() const {
  auto now = Clock::now();
  std::optional<Clock::time_point> next;
  if (options_.output && recorder_.dirty()) next = pacer_.due(recorder_.urgent());
  if (target_done_ && (!next || next_prune_ < *next)) next = next_prune_;
  // While a storm lasts, the ring is collected once per period (it wakes us early only when
  // it fills up a quarter); idle, there is no timer at all.
  if (kernel_batch_until_ && (!next || *kernel_batch_until_ < *next)) next = kernel_batch_until_;
  if (auto due = forwarder_.next_due(); due && (!next || *due < *next)) next = due;
  if (!next) return -1;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(*next - now).count();
  return static_cast<int>(std::clamp<long long>(ms + 1, 0, 1000));
}

bool Supervisor::watching() const {
  if (end_requested_) return false;
  if (!target_done_) return true;
  // The top is gone: orphaned descendants are still watched until they die.
  return options_.follow && recorder_.tree().alive_count() > 0;
}

namespace {
// Long enough that a command which ends at once never waits for the trim.
constexpr int kIdleBeforeTrimMs = 100;
}  // namespace

void Supervisor::event_loop() {
  bool announced_orphans = false;
  while (watching()) {
    if (target_done_ && !announced_orphans) {
      announced_orphans = true;
      recorder_.conclude(std::nullopt);
      const Certificate& c = recorder_.certificate();
      std::string name = c.process.argv.empty() ? "the process" : c.process.argv[0];
      redactor_->apply(name);
      spdlog::warn("{} ended ({}); still watching {} descendant(s) it left running "
                   "(Ctrl+C or SIGTERM to deathwatch stops watching)",
                   escape_for_terminal(name),
                   c.outcome.describe(), recorder_.tree().alive_count());
      write_certificate();
    }
    struct pollfd fds[5] = {{signal_fd_.get(), POLLIN, 0},
                            {kernel_ ? kernel_->event_fd() : -1, POLLIN, 0},
                            {exec_report_.get(), POLLIN, 0},
                            {target_done_ ? -1 : target_pidfd_.get(), POLLIN, 0},  // negative fds are skipped
                            {notify_relay_ ? notify_relay_->fd() : -1, POLLIN, 0}};
    int timeout_ms = poll_timeout_ms();
    const bool trim_if_idle = !working_set_trimmed_ && (timeout_ms < 0 || timeout_ms > kIdleBeforeTrimMs);
    if (trim_if_idle) timeout_ms = kIdleBeforeTrimMs;
    const int ready = ::poll(fds, 5, timeout_ms);
    if (ready < 0 && errno != EINTR)
      throw FatalError(kExitOwnFailure, std::string("poll: ") + std::strerror(errno));
    if (ready == 0 && trim_if_idle) {
      working_set_trimmed_ = true;
      spdlog::debug("idle: {} KiB of start-up pages dropped from the working set", release_file_backed_pages());
    }
    drain_own_signals();
    // Kernel events before wait statuses: a death is never handled before its cause.
    if (kernel_) consume_kernel_events();
    if (fds[2].revents) check_exec_report();
    if (fds[4].revents) notify_relay_->relay_pending(from_watched_tree());
    if (fds[3].revents && mode_ != Mode::Ptrace) attached_target_ended();
    reap();
    send_due_forwards();
    maybe_stop_with_target();
    if (target_done_) prune_vanished_descendants();
    write_if_due();
  }
  if (end_requested_) end_watch();
}

void Supervisor::consume_kernel_events() {
  // The kernel already delivered these signals (nothing waits for deathwatch to re-inject
  // them): one event-log write for the whole batch keeps up with a storm.
  // A signal from another process and a SIGKILL always wake deathwatch. Other records wake
  // it while it is idle; once a burst began, they wait for the end of the period and are
  // collected in one batch, rather than one wake-up each. Batching stops before the last
  // collection of a period, so a record that comes after it wakes deathwatch again.
  const auto now = Clock::now();
  if (kernel_batch_until_ && now >= *kernel_batch_until_) {
    kernel_batch_until_.reset();
    kernel_->set_batching(false);
  }
  outputs_.begin_batch();
  const std::size_t collected = kernel_->consume(*this);
  outputs_.end_batch();
  if (collected > 0 && !kernel_batch_until_) {
    kernel_batch_until_ = now + kFlushPeriod;
    kernel_->set_batching(true);
  }
}

void Supervisor::prune_vanished_descendants() {
  // A safety net, once a second: a descendant whose end was never reported (an event lost)
  // must not keep deathwatch waiting forever.
  const auto now = Clock::now();
  if (now < next_prune_) return;
  next_prune_ = now + std::chrono::seconds(1);
  std::vector<pid_t> gone;
  for (pid_t pid : recorder_.tree().alive_pids())
    if (::kill(pid, 0) != 0 && errno == ESRCH) gone.push_back(pid);
  if (gone.empty()) return;
  // With eBPF, a descendant reaped by its parent since the last collection has its exit
  // record waiting in the ring (written before it could be reaped): collect it first.
  if (kernel_) consume_kernel_events();
  for (pid_t pid : gone) {
    if (recorder_.tree().is_alive(pid)) recorder_.record_vanished(pid, WallClock::now());
    jvm_sessions_.erase(pid);  // its pid may come back as another JVM, which needs its own
  }
}

void Supervisor::check_exec_report() {
  auto err = read_exec_report(exec_report_.get());
  exec_report_.reset();
  if (!err) {
    // The tracer reports the exec itself in ptrace mode; the kernel's first exec event came
    // before this confirmation and was set aside.
    if (mode_ != Mode::Ptrace) {
      const ProcessExeced confirmed{target_, std::nullopt, std::nullopt, /*confirmation=*/true};
      recorder_.record(confirmed);
      maybe_attach_jvm(confirmed);
    }
    exec_confirmed_ = true;
    return;
  }
  const std::string message = options_.command[0] + ": cannot execute: " + std::strerror(*err);
  recorder_.certificate().exec_error = message;
  recorder_.certificate().watcher.warnings.push_back(message);  // not logged: the report's one line
}

void Supervisor::reap() {
  const bool traced = mode_ == Mode::Ptrace;
  // Only the target's own rusage is reported; collecting one is not free (wait_next).
  while (auto reaped = wait_next(traced, target_)) {
    if (!traced) {
      on_plain_wait_status(*reaped);
      continue;
    }
    const bool answered = tracer_.dispatch(reaped->pid, reaped->raw_status, reaped->usage ? &*reaped->usage : nullptr);
    // Not resumed (a failed PTRACE_CONT): collected, or it would be reported forever.
    if (reaped->still_reported && !answered) {
      if (auto ended = collect_unanswered_stop(reaped->pid, target_))
        tracer_.dispatch(ended->pid, ended->raw_status, ended->usage ? &*ended->usage : nullptr);
    }
  }
}

void Supervisor::on_plain_wait_status(const Reaped& reaped) {
  const pid_t pid = reaped.pid;
  const WaitStatus ws = WaitStatus::decode(reaped.raw_status, /*traced=*/false);
  switch (ws.kind) {
    case WaitStatus::Kind::Exited:
    case WaitStatus::Kind::Killed:
      // The kernel's events about this process (its killer) come before its end.
      if (kernel_) consume_kernel_events();
      observe(ProcessEnded{pid, ws, WallClock::now(), reaped.usage});
      return;
    case WaitStatus::Kind::PlainStop:
      observe(JobControl{pid, ws.value, true});
      return;
    case WaitStatus::Kind::Continued:
      observe(JobControl{pid, 0, false});
      return;
    default:
      return;
  }
}

void Supervisor::observe(const Observation& observation) {
  if (!lifecycle(observation)) return;
  if (const auto* exec = std::get_if<ProcessExeced>(&observation)) maybe_attach_jvm(*exec);
  if (const auto* ended = std::get_if<ProcessEnded>(&observation)) collect_java_last_words(*ended);
  // Recorded signals are on disk in the event log at once; the certificate follows from the
  // event loop as the pacer allows, never as a full rewrite while a tracee waits in a stop.
  recorder_.record(observation);
}

bool Supervisor::lifecycle(const Observation& observation) {
  if (const auto* job = std::get_if<JobControl>(&observation)) {
    if (job->pid == target_) {
      spdlog::debug("target {} job-control stop {}", job->stopped ? "entered" : "left",
                    job->stopped ? signal_name(job->signo) : "");
      target_stopped_ = job->stopped;
    }
    return false;
  }
  if (const auto* exec = std::get_if<ProcessExeced>(&observation); exec && exec->pid == target_) {
    // With eBPF the first exec is confirmed by the exec report (check_exec_report), and its
    // kernel event is set aside, even when it comes after the report: taken as a second exec,
    // it started a second Java agent session, whose SIGQUIT reached a JVM already listening
    // (HotSpot then prints a thread dump on the command's stdout).
    if (mode_ == Mode::Kernel && std::exchange(launch_exec_event_due_, false)) return false;
    // A later exec (`nice java ...`) read before the report: the first exec is done, so its
    // report is there to read, and comes first.
    if (mode_ == Mode::Kernel && exec_report_.is_open() && !exec_confirmed_) check_exec_report();
    exec_confirmed_ = true;
    if (mode_ == Mode::Ptrace)  // only a ptrace tracer strips set-uid and file capabilities
      if (auto exe = read_link("/proc/" + std::to_string(target_) + "/exe"))
        if (auto warning = privilege_loss_warning(*exe)) warn(*warning);
    return true;
  }
  if (const auto* ended = std::get_if<ProcessEnded>(&observation); ended && ended->pid == target_) {
    // The kernel's exit event for our own child: its wait status, with rusage, follows.
    if (!ended->reaped && !attached_) return false;
    if (exec_report_.is_open() && !exec_confirmed_) check_exec_report();
    target_done_ = true;
  }
  return true;
}

void Supervisor::write_if_due() {
  if (recorder_.dirty() && Clock::now() >= pacer_.due(recorder_.urgent())) write_certificate();
}

void Supervisor::write_certificate() {
  const auto start = Clock::now();
  recorder_.mark_written();
  outputs_.update(recorder_.snapshot());
  pacer_.wrote(start, Clock::now());
}

void Supervisor::finish() {
  if (notify_relay_) notify_relay_->relay_pending(from_watched_tree());  // a last STATUS= or STOPPING=1
  if (kernel_) {
    consume_kernel_events();
    if (auto lost = kernel_->dropped())
      warn(std::to_string(lost) + " kernel events were lost (ring buffer full)");
    if (auto lost = kernel_->last_words_dropped())
      warn(std::to_string(lost) + " last-words captures were lost (their ring buffer was full)");
  }
  if (const auto lost = stderr_writer().lost_bytes())
    warn(std::to_string(lost) + " bytes of deathwatch's own stderr output were dropped: stderr "
         "was not being read (or failed); the command was never held up by it");
  std::optional<std::string> privilege_fix;
  if (mode_ != Mode::Kernel && !recorder_.certificate().watcher.backends.empty())
    privilege_fix = "run deathwatch as root or grant it the capabilities once: setcap "
                    "cap_bpf,cap_perfmon+p " + own_executable() + " (eBPF backend: " +
                    recorder_.certificate().watcher.backends.front().detail + ")";
  recorder_.conclude(privilege_fix);
  recorder_.mark_written();
  outputs_.final(recorder_.snapshot());
  own_cgroup_.reset();  // now, not at destruction: deathwatch may end by raising a signal
  const Outcome& outcome = recorder_.certificate().outcome;
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
