// The supervisor: starts the target, runs the one event loop (deathwatch's own signals, the
// exec report, wait statuses, flush and forward deadlines), keeps the certificate current on
// disk and decides the cause when the target dies.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "deathwatch/certificate.h"
#include "deathwatch/certificate_writer.h"
#include "deathwatch/cli.h"
#include "deathwatch/forwarder.h"
#include "deathwatch/kernel_backend.h"
#include "deathwatch/launch.h"
#include "deathwatch/oom_evidence.h"
#include "deathwatch/process_tree.h"
#include "deathwatch/scoped_fd.h"
#include "deathwatch/tracer.h"

struct signalfd_siginfo;

namespace deathwatch {

// A repeat of a signal already on disk is flushed within this period (a storm of 20,000
// signals must not mean 20,000 rewrites); the event log has every one at once.
inline constexpr std::chrono::milliseconds kFlushPeriod{100};
// Distinct signal records kept in the certificate; repeats only count, more are counted.
inline constexpr std::size_t kMaxSignalRecords = 1000;

class Supervisor : public TraceObserver {
 public:
  Supervisor(Options options, SignalSnapshot original_signals);

  // Runs the target to its end. Returns the exit status deathwatch should give; when the
  // target died of a signal, death_signal() says which (deathwatch then dies of it too).
  int run();
  std::optional<int> death_signal() const { return death_signal_; }
  const Certificate& certificate() const { return certificate_; }
  // True when the target could not be executed (the report is then one line, not a certificate).
  bool exec_failed() const { return exec_failed_; }

  // TraceObserver
  void on_signal(pid_t tgid, pid_t tid, const siginfo_t& info) override;
  void on_group_stop(pid_t tgid, int signo, bool stopped) override;
  void on_exec(pid_t tgid) override;
  void on_process_exit(pid_t tgid, const WaitStatus& status, const struct rusage& usage) override;
  void on_process_start(pid_t pid, pid_t parent_tgid) override;
  void on_process_exiting(pid_t tgid, int raw_status) override;

 private:
  using Clock = std::chrono::steady_clock;

  // (receiver, signal, si_code, sender pid or -1, forwarded)
  using RecordKey = std::tuple<pid_t, int, int, pid_t, bool>;

  // How signals are observed, chosen once at start: the strongest evidence available.
  enum class Mode {
    Kernel,  // eBPF: every signal with its sender (SIGKILL too), the target never stops
    Ptrace,  // ptrace signal-delivery stops: every catchable signal, not SIGKILL
    Plain,   // neither permitted: only the wait status (and OOM counters)
  };

  void start_target();
  void attach_target();
  // Chooses the backend for `pid` (kernel, else ptrace via `seize`, else plain).
  void choose_backend(const std::function<Status()>& seize);
  void watch_existing_descendants(pid_t pid);
  bool watching() const;
  void end_watch();
  void prune_vanished_descendants();
  void descendant_died(pid_t pid, const Outcome& outcome, WallTime when);
  void on_kernel_event(const dw_event& event);
  void consume_kernel_events();
  void attached_target_ended();
  bool same_pid_namespace(pid_t pid) const;
  void event_loop();
  int poll_timeout_ms() const;
  void drain_own_signals();
  void on_own_signal(const signalfd_siginfo& info);
  // Fills record.sender (and forwarded_from) for a signal a process sent: the target itself,
  // deathwatch (a forward), or another process, whose identity `read_other` supplies.
  // Returns true for another process.
  bool attribute_sender(SignalRecord& record, pid_t sender_tgid,
                        const std::function<Sender()>& read_other);
  void reap();
  void on_plain_wait_status(pid_t pid, int raw_status, const struct rusage& usage);
  void check_exec_report();
  void send_due_forwards();
  void maybe_stop_with_target();
  void add_signal_record(SignalRecord record, bool names_other_process);
  // Appends to the event log; a failure is said once on stderr.
  void append_events(const std::string& lines);
  void flush_if_due();
  void write_certificate();
  void warn(const std::string& message);
  void conclude_top();  // outcome known: cause, OOM evidence, root cause
  void finish();

  Options options_;
  SignalSnapshot original_signals_;
  Certificate certificate_;
  std::optional<CertificateWriter> writer_;
  ScopedFd signal_fd_;
  ScopedFd exec_report_;
  Tracer tracer_;
  Mode mode_ = Mode::Plain;
  std::unique_ptr<KernelBackend> kernel_;
  std::optional<OomProbe> oom_probe_;
  std::optional<OwnCgroup> own_cgroup_;
  ProcessTree tree_{0};
  std::unordered_set<pid_t> signalled_pids_;           // received a signal from a process
  std::unordered_map<pid_t, OomKill> descendant_oom_;  // OOM victims not yet reaped
  bool attached_ = false;        // --pid: the target is not our child
  ScopedFd target_pidfd_;        // --pid: readable when the target ends
  bool end_requested_ = false;   // stop watching (Ctrl+C while attached / while orphans live)
  Clock::time_point next_prune_{};
  pid_t target_ = -1;
  bool target_done_ = false;
  bool exec_confirmed_ = false;
  bool exec_failed_ = false;
  bool target_stopped_ = false;         // the target is in a job-control stop
  bool stop_with_target_ = false;       // a terminal stop (Ctrl+Z) asked the job to stop
  std::optional<Sender> target_identity_;  // for signals the target sends itself
  SignalForwarder forwarder_;
  std::map<RecordKey, std::size_t> record_index_;
  bool dirty_ = false;
  bool batching_events_ = false;  // kernel events: event-log lines collected, then one write
  std::string pending_events_;
  RewritePacer pacer_{kFlushPeriod};
  bool news_pending_ = false;              // a new sender awaits a rewrite
  EventLogBudget event_budget_;
  bool event_log_failed_ = false;          // an append failed (said once)
  bool events_lost_noted_ = false;
  bool certificate_write_failed_ = false;  // a rewrite failed (said once)
  std::optional<int> death_signal_;
  int exit_status_ = 0;
};

}  // namespace deathwatch
