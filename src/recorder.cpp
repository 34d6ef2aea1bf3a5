#include "deathwatch/recorder.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>

#include "deathwatch/procfs.h"
#include "deathwatch/scoped_fd.h"
#include "deathwatch/signals.h"
#include "deathwatch/verdict.h"

namespace deathwatch {

namespace {

double seconds(const struct timeval& tv) {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

// Unknown (nullopt) when either link cannot be read.
std::optional<bool> same_pid_namespace(pid_t pid) {
  static const std::optional<std::string> own = read_link("/proc/self/ns/pid");
  const auto theirs = read_link("/proc/" + std::to_string(pid) + "/ns/pid");
  if (!own || !theirs) return std::nullopt;
  return *own == *theirs;
}

// TRACE_SIGNAL_* as the certificate names them.
std::string kernel_result_name(int result) {
  static const char* const kResults[] = {"delivered", "ignored", "already pending", "queue overflow", "info lost"};
  return result >= 0 && result < 5 ? kResults[result] : std::to_string(result);
}

}  // namespace

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

Sender ProcfsLookup::sender(const SignalSender& sender, pid_t receiver) {
  if (sender.captured) return complete_captured_task(*sender.captured);
  std::optional<bool> same_namespace;
  if (auto known = receiver_in_our_pid_namespace_.find(receiver); known != receiver_in_our_pid_namespace_.end()) {
    same_namespace = known->second;
  } else if ((same_namespace = same_pid_namespace(receiver))) {
    // Bounded: ended processes are forgotten (Recorder::on_ended); this is a safety net.
    if (receiver_in_our_pid_namespace_.size() >= 65536) receiver_in_our_pid_namespace_.clear();
    receiver_in_our_pid_namespace_.emplace(receiver, *same_namespace);
  }
  if (!same_namespace.value_or(true)) {
    // si_pid is a pid in the receiver's namespace: /proc here would show another process.
    Sender s;
    s.uid = sender.uid;
    s.user = user_name(sender.uid);
    if (sender.pid == 0)
      s.note = "a process outside the receiver's pid namespace (si_pid 0): in an ancestor "
               "namespace, possibly deathwatch's own";
    else
      s.note = "pid " + std::to_string(sender.pid) +
               " in the receiver's pid namespace (not deathwatch's): not looked up";
    return s;
  }
  return read_sender(sender.pid, sender.uid, boot_ticks_now());
}

Sender ProcfsLookup::identity(pid_t pid) { return read_process_identity(pid); }

std::optional<std::string> ProcfsLookup::comm(pid_t pid) {
  // At every descendant's exit stop: one open, one read (a name is at most 16 bytes) and a
  // close, nothing else.
  char path[32];
  std::snprintf(path, sizeof path, "/proc/%d/comm", static_cast<int>(pid));
  ScopedFd fd(::open(path, O_RDONLY | O_CLOEXEC));
  if (!fd.is_open()) return std::nullopt;
  char buf[64];
  const ssize_t n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return std::nullopt;
  std::string name(buf, static_cast<std::size_t>(n));
  if (name.back() == '\n') name.pop_back();
  return name;
}

Recorder::Recorder(ProcessLookup& lookup, SignalForwarder& forwarder, Outputs& outputs,
                   pid_t watcher, bool follow)
    : lookup_(lookup), forwarder_(forwarder), outputs_(outputs), watcher_(watcher), follow_(follow) {}

void Recorder::set_target(pid_t pid, std::optional<Sender> identity) {
  target_ = pid;
  target_identity_ = std::move(identity);
  certificate_.process.pid = pid;
  tree_ = ProcessTree(pid);
  tree_.set_top_argv(certificate_.process.argv);
}

void Recorder::warn(const std::string& message) {
  certificate_.watcher.warnings.push_back(message);
  dirty_ = true;
}

void Recorder::record(const Observation& observation) {
  std::visit(
      [this](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, SignalSeen>) on_signal(o);
        else if constexpr (std::is_same_v<T, ProcessStarted>) on_started(o);
        else if constexpr (std::is_same_v<T, ProcessExeced>) on_execed(o);
        else if constexpr (std::is_same_v<T, ProcessExiting>) on_exiting(o);
        else if constexpr (std::is_same_v<T, ProcessEnded>) on_ended(o);
        else if constexpr (std::is_same_v<T, OomVictim>) on_oom_victim(o);
        else if constexpr (std::is_same_v<T, DeathCaptured>) scenes_.add(o);
        // JobControl: the supervisor's business (stopping with the target), not the record's.
      },
      observation);
}

void Recorder::on_signal(const SignalSeen& seen) {
  // deathwatch's own probe, caught by the JVM as an attach request: not an event in its
  // life. One that was not caught (it could kill) is recorded like any other.
  if (seen.sender && seen.sender->pid == watcher_ && seen.disposition == Disposition::Handled &&
      probe_signals_.count({seen.pid, seen.signo}) && !forwarder_.awaiting_delivery(seen.signo))
    return;
  SignalRecord record;
  record.time = record.last_time = seen.time;
  record.pid = seen.pid;
  record.tid = seen.tid;
  record.signo = seen.signo;
  record.code = seen.code;
  record.origin = classify_origin(seen.signo, seen.code);
  record.fault_address = seen.fault_address;
  record.group = seen.group;
  if (seen.kernel_result) record.kernel_result = kernel_result_name(*seen.kernel_result);
  record.disposition = seen.disposition;
  // Reached the process with an action to take: not discarded as ignored, and (eBPF) queued
  // (DELIVERED, LOSE_INFO) rather than merged into a pending copy or dropped on overflow.
  const bool queued = !seen.kernel_result || *seen.kernel_result == 0 || *seen.kernel_result == 4;
  if (seen.disposition != Disposition::Ignored && queued) record.last_delivered = record.time;
  const bool names_other_process = seen.sender && attribute_sender(record, *seen.sender);
  add(std::move(record), names_other_process);
}

bool Recorder::attribute_sender(SignalRecord& record, const SignalSender& sender) {
  if (sender.pid == record.pid) {
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
    // Sent to its own process group (kill(0, S)): deathwatch's copy needs no forward.
    if (record.pid == target_) forwarder_.target_received(record.signo, sender.pid, SignalForwarder::Clock::now());
    return false;
  }
  if (sender.pid == watcher_) {
    record.sender = lookup_.identity(watcher_);
    record.sender->note = "deathwatch itself";
    record.forwarded_from = forwarder_.claim(record.signo);
    return true;
  }
  // The target got its own copy of a signal that also reached deathwatch: no forward.
  if (record.pid == target_) forwarder_.target_received(record.signo, sender.pid, SignalForwarder::Clock::now());
  signalled_pids_.insert(record.pid);
  if (!sender.captured) {
    // A repeat: the sender was read at the first one (ptrace reads /proc, which costs).
    const RecordKey key{record.pid, record.signo, record.code, sender.pid, false};
    auto known = record_index_.find(key);
    if (known != record_index_.end() && certificate_.signals[known->second].sender &&
        certificate_.signals[known->second].sender->uid == sender.uid) {
      record.sender = *certificate_.signals[known->second].sender;
      return true;
    }
  }
  record.sender = lookup_.sender(sender, record.pid);
  if (!record.sender->comm) name_exited_sender(*record.sender, sender.pid, record.time);
  return true;
}

void Recorder::name_exited_sender(Sender& sender, pid_t pid, WallTime signal_time) const {
  auto it = exited_names_.find(pid);
  // Its exit came after the signal was sent; long after, the pid may be another's by now.
  if (it == exited_names_.end() || signal_time - it->second.at > std::chrono::seconds(10)) return;
  sender.pid = pid;
  sender.comm = it->second.comm;
  if (const auto* argv = tree_.argv_of(pid); argv && !argv->empty()) sender.cmdline = *argv;
  sender.note = "it ended before its signal was seen: named as it was at its exit";
}

void Recorder::add(SignalRecord record, bool names_other_process) {
  const pid_t sender_pid = record.sender && record.sender->pid ? *record.sender->pid : -1;
  const RecordKey key{record.pid, record.signo, record.code, sender_pid,
                      record.forwarded_from.has_value()};
  // Durable before the signal is re-injected.
  outputs_.signal_recorded(record);
  dirty_ = true;
  auto known = record_index_.find(key);
  if (known != record_index_.end()) {
    SignalRecord& existing = certificate_.signals[known->second];
    existing.count += 1;
    existing.last_time = record.time;
    existing.tid = record.tid;
    existing.disposition = record.disposition;  // as of the last copy
    if (record.kernel_result) existing.kernel_result = record.kernel_result;
    if (record.last_delivered) existing.last_delivered = record.last_delivered;
    if (record.fault_address) existing.fault_address = record.fault_address;
    return;
  }
  if (certificate_.signals.size() >= kMaxSignalRecords) {
    ++certificate_.signals_not_listed;
    return;
  }
  record_index_.emplace(key, certificate_.signals.size());
  certificate_.signals.push_back(std::move(record));
  // A new sender is in the certificate itself before its signal reaches the target.
  if (names_other_process) urgent_ = true;
}

void Recorder::record_unseen_forward(int signo, const Sender& from, WallTime when) {
  SignalRecord record;
  record.time = record.last_time = when;
  record.pid = record.tid = target_;
  record.signo = signo;
  record.code = SI_USER;
  record.origin = SignalOrigin::Process;
  record.sender = lookup_.identity(watcher_);
  record.forwarded_from = from;
  add(std::move(record), true);
}

void Recorder::on_started(const ProcessStarted& started) {
  if (!follow_) return;
  tree_.on_start(started.pid, started.parent, started.time);
  exited_names_.erase(started.pid);
  dirty_ = true;
}

void Recorder::on_execed(const ProcessExeced& exec) {
  // A scene captured before an exec belongs to the old program. The launcher's late
  // confirmation of the first exec is no exec: a command that exec'd and died at once may
  // have its last words held already (seen under load and under ASan).
  if (!exec.confirmation) scenes_.forget(exec.pid);
  if (exec.pid == target_) {
    target_identity_ = lookup_.identity(exec.pid);
    // Already gone, /proc/<pid>/exe unreadable: the kernel's path, else the launcher's.
    if (target_identity_->exe)
      certificate_.process.exe = target_identity_->exe;
    else if (exec.path)
      certificate_.process.exe = exec.path;
    dirty_ = true;
    return;
  }
  // A descendant's exec is recorded when the backend says what it exec'd (eBPF); ptrace
  // reads its command line at its exit instead (ProcessExiting).
  if (exec.argv && tree_.is_descendant(exec.pid)) tree_.on_exec(exec.pid, *exec.argv, exec.path);
}

void Recorder::on_exiting(const ProcessExiting& exiting) {
  if (exiting.pid == target_ || !tree_.is_descendant(exiting.pid)) return;
  // Read its command line now, while it still has its memory, but only for a death worth
  // listing; a normal exit (most of a busy supervisor's children) costs one read of its name,
  // kept in case it sent a signal whose delivery stop is read after its end.
  const Outcome outcome = outcome_from(WaitStatus::decode(exiting.raw_status, false));
  std::optional<std::string> comm;
  if (outcome.is_normal() && !signalled_pids_.count(exiting.pid)) {
    comm = lookup_.comm(exiting.pid);
  } else {
    const Sender id = lookup_.identity(exiting.pid);
    tree_.on_exec(exiting.pid, id.cmdline.value_or(std::vector<std::string>{}), id.exe);
    comm = id.comm;
  }
  if (!comm) return;
  if (exited_names_.size() >= 4096) exited_names_.clear();  // a safety net: entries leave at restart
  exited_names_[exiting.pid] = ExitedName{std::move(*comm), WallClock::now()};
}

void Recorder::on_ended(const ProcessEnded& ended) {
  lookup_.forget(ended.pid);
  if (ended.pid != target_) {
    descendant_died(ended.pid, outcome_from(ended.status), ended.time);
    return;
  }
  certificate_.process.ended_at = ended.time;
  certificate_.outcome = outcome_from(ended.status);
  if (ended.usage) {
    certificate_.resources.max_rss_kib = ended.usage->ru_maxrss;
    certificate_.resources.user_cpu_s = seconds(ended.usage->ru_utime);
    certificate_.resources.sys_cpu_s = seconds(ended.usage->ru_stime);
  }
  dirty_ = true;
}

void Recorder::on_oom_victim(const OomVictim& victim) {
  const bool is_target = victim.pid == target_ || victim.tid == target_;
  if (!is_target && !tree_.is_descendant(victim.pid)) return;
  OomKill oom;
  oom.pid = is_target ? target_ : victim.pid;
  oom.time = victim.time;
  oom.source = "ebpf " + victim.hook;
  oom.confidence = Confidence::Certain;
  oom.total_vm_kib = victim.total_vm_kib;
  oom.anon_rss_kib = victim.anon_rss_kib;
  oom.file_rss_kib = victim.file_rss_kib;
  oom.shmem_rss_kib = victim.shmem_rss_kib;
  if (victim.triggered_by) oom.triggered_by = complete_captured_task(*victim.triggered_by);
  oom.evidence.push_back("kernel tracepoint oom:mark_victim named pid " + std::to_string(victim.tid));
  if (is_target)
    certificate_.oom = std::move(oom);
  else
    descendant_oom_[victim.pid] = std::move(oom);
  dirty_ = urgent_ = true;
}

void Recorder::record_vanished(pid_t pid, WallTime when) { descendant_died(pid, Outcome{}, when); }

void Recorder::record_existing_descendant(pid_t pid, pid_t parent, WallTime started,
                                          const Sender& identity) {
  tree_.on_start(pid, parent, started);
  tree_.on_exec(pid, identity.cmdline.value_or(std::vector<std::string>{}), identity.exe);
  dirty_ = true;
}

void Recorder::descendant_died(pid_t pid, const Outcome& outcome, WallTime when) {
  lookup_.forget(pid);  // also when it vanished: its end event was lost, its pid may be reused
  std::optional<OomKill> oom;
  if (auto it = descendant_oom_.find(pid); it != descendant_oom_.end()) {
    oom = std::move(it->second);
    descendant_oom_.erase(it);
  } else if (outcome.signal == SIGKILL && oom_probe_) {
    oom = oom_probe_->kernel_log_victim(pid);  // without eBPF: the kernel log, if readable
  }
  if (oom && oom_probe_) oom_probe_->describe_cgroup(*oom, pid, watcher_);
  std::optional<LastWords> last_words = scenes_.take(pid, outcome, /*watched_process=*/false);
  std::erase_if(probe_signals_, [pid](const auto& p) { return p.first == pid; });
  if (tree_.on_exit(pid, outcome, when, certificate_.signals, std::move(oom), std::move(last_words))) dirty_ = true;
  signalled_pids_.erase(pid);
}

void Recorder::conclude(const std::optional<std::string>& privilege_fix) {
  const Outcome& outcome = certificate_.outcome;
  if (outcome.kind == OutcomeKind::Killed && outcome.signal == SIGKILL && oom_probe_) {
    if (!certificate_.oom)
      certificate_.oom = oom_probe_->conclude(target_, watcher_);
    else
      oom_probe_->describe_cgroup(*certificate_.oom, target_, watcher_);
  }
  if (certificate_.exec_error) {
    certificate_.cause.category = CauseCategory::Exit;
    certificate_.cause.confidence = Confidence::Certain;
    certificate_.cause.summary = "could not be executed";
    certificate_.cause.evidence = {*certificate_.exec_error};
  } else {
    certificate_.cause = decide_cause(outcome, target_, certificate_.signals,
                                      certificate_.process.ended_at.value_or(WallClock::now()),
                                      certificate_.oom);
    // A missing privilege is said only where it changed the answer, with the fix.
    if (privilege_fix && certificate_.cause.category == CauseCategory::Signal &&
        !certificate_.cause.sender && outcome.signal == SIGKILL)
      certificate_.cause.evidence.push_back("to name SIGKILL senders, " + *privilege_fix);
    if (privilege_fix && certificate_.cause.category == CauseCategory::Oom && certificate_.oom &&
        certificate_.oom->source.rfind("ebpf", 0) != 0)
      certificate_.cause.evidence.push_back("to have the kernel itself name the OOM victim, " + *privilege_fix);
  }
  if (!certificate_.exec_error && target_ > 0) {
    certificate_.last_words = scenes_.take(target_, outcome, /*watched_process=*/true);
    if (certificate_.last_words) tell_cause_with_last_words(certificate_.cause, outcome, *certificate_.last_words);
  }
  if (follow_)
    certificate_.root_cause = tree_.root_cause(outcome, certificate_.cause, certificate_.process.ended_at);
  if (certificate_.root_cause) {
    // Not "by itself": a descendant's death explains the exit.
    certificate_.cause.summary = certificate_.root_cause->summary;
    certificate_.cause.evidence.push_back("root cause: descendant pid " +
                                          std::to_string(certificate_.root_cause->pid) + ": " +
                                          certificate_.root_cause->cause.summary);
  }
  certificate_.final = true;
  dirty_ = true;
}

const Certificate& Recorder::snapshot() {
  if (follow_) {
    certificate_.descendants = tree_.snapshot();
    certificate_.descendant_counts = tree_.counts();
  }
  return certificate_;
}

void Recorder::mark_written() { dirty_ = urgent_ = false; }

}  // namespace deathwatch
