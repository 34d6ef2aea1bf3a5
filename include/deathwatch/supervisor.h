// The supervisor: the lifecycle only. It launches or attaches, chooses a backend, runs the
// one poll loop (deathwatch's own signals, the exec report, wait statuses, the ring buffer,
// write and forward deadlines), forwards signals sent to deathwatch, follows job-control
// stops, and mirrors the target's end. What the backends see goes, as observations, to the
// recorder; what the recorder holds goes to the sinks.
//
//   launch/attach -> backend (ebpf | ptrace | plain) -> observations -> recorder -> verdict -> sinks
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "deathwatch/cli.h"
#include "deathwatch/forwarder.h"
#include "deathwatch/jvm_agent.h"
#include "deathwatch/kernel_backend.h"
#include "deathwatch/last_words_reader.h"
#include "deathwatch/launch.h"
#include "deathwatch/notify_relay.h"
#include "deathwatch/observation.h"
#include "deathwatch/oom_evidence.h"
#include "deathwatch/privileges.h"
#include "deathwatch/recorder.h"
#include "deathwatch/scoped_fd.h"
#include "deathwatch/sinks.h"
#include "deathwatch/tracer.h"

struct signalfd_siginfo;

namespace deathwatch {

// A changed certificate is rewritten within this period (a storm of 20,000 signals must not
// mean 20,000 rewrites), a new sender sooner, as the rewrite's own cost allows (RewritePacer);
// the event log has every signal at once.
inline constexpr std::chrono::milliseconds kFlushPeriod{100};

class Supervisor : public Observer {
 public:
  Supervisor(Options options, SignalSnapshot original_signals, ReportOptions report, Privileges privileges);

  // Runs the target to its end. Returns the exit status deathwatch should give; when the
  // target died of a signal, death_signal() says which (deathwatch then dies of it too).
  int run();
  std::optional<int> death_signal() const { return death_signal_; }

  // Observer: every backend reports here; lifecycle first, then the record.
  void observe(const Observation& observation) override;

 private:
  using Clock = std::chrono::steady_clock;

  // How signals are observed, chosen once at start: the strongest evidence available.
  enum class Mode {
    Kernel,  // eBPF: every signal with its sender (SIGKILL too), the target never stops
    Ptrace,  // ptrace signal-delivery stops: every catchable signal, not SIGKILL
    Plain,   // neither permitted: only the wait status (and OOM counters)
  };

  void start_kernel_load();
  void open_outputs();
  void start_target();
  void attach_target();
  // Chooses the backend for the target (kernel, else ptrace via `seize`, else plain).
  void choose_backend(const std::function<Status()>& seize);
  void watch_existing_descendants(pid_t pid);
  bool watching() const;
  void event_loop();
  int poll_timeout_ms() const;
  void consume_kernel_events();
  void attached_target_ended();
  void prune_vanished_descendants();
  void end_watch();
  void drain_own_signals();
  void on_own_signal(const signalfd_siginfo& info);
  void send_due_forwards();
  void check_exec_report();
  void reap();
  void on_plain_wait_status(const Reaped& reaped);
  // Whether an observation is for the record (some are lifecycle only, or duplicates).
  bool lifecycle(const Observation& observation);
  void maybe_stop_with_target();
  void write_if_due();
  void write_certificate();
  void warn(const std::string& message);
  // Whether a pid is the command or one of its descendants (the notify relay's senders).
  std::function<bool(pid_t)> from_watched_tree() const;
  void finish();
  // Java last words (supervisor_jvm.cpp): an agent for each JVM the watch sees exec, read
  // back when it ends.
  void maybe_attach_jvm(const ProcessExeced& exec);
  void collect_java_last_words(const ProcessEnded& ended);

  Options options_;
  Privileges privileges_;
  std::shared_ptr<const Redactor> redactor_;  // --redact: applied to all that leaves
  SignalSnapshot original_signals_;
  ReportOptions report_;
  Outputs outputs_;
  ProcfsLookup lookup_;
  LibdwLastWordsReader last_words_reader_;
  std::unordered_map<pid_t, std::unique_ptr<JvmAgentSession>> jvm_sessions_;
  SignalForwarder forwarder_;
  Recorder recorder_;
  ScopedFd signal_fd_;
  ScopedFd exec_report_;
  Tracer tracer_;
  Mode mode_ = Mode::Plain;
  std::unique_ptr<KernelBackend> kernel_;
  // The eBPF load, started before anything else (it is most of the start-up) and collected
  // when the backend is chosen; unset before it starts and once collected.
  std::optional<Result<KernelLoad>> kernel_load_;
  // After a collection that found records, the kernel batches (KernelBackend::set_batching)
  // until this deadline, so a burst is collected once a period; unset when idle (no timer:
  // a record wakes us).
  std::optional<Clock::time_point> kernel_batch_until_;
  std::optional<OomProbe> oom_probe_;
  std::optional<OwnCgroup> own_cgroup_;
  std::optional<NotifyRelay> notify_relay_;  // $NOTIFY_SOCKET: the command's sd_notify, relayed
  bool attached_ = false;        // --pid: the target is not our child
  ScopedFd target_pidfd_;        // --pid: readable when the target ends
  bool end_requested_ = false;   // stop watching (Ctrl+C while attached / while orphans live)
  Clock::time_point next_prune_{};
  pid_t target_ = -1;
  bool target_done_ = false;
  // Start-up's pages are dropped from the working set once, at the first idle moment
  // (working_set.h): a short command never pays for it, a long watch stays small.
  bool working_set_trimmed_ = false;
  bool exec_confirmed_ = false;
  // eBPF, launched command: the kernel's event for the command's exec, which the exec report
  // stands for (check_exec_report) whether it comes before or after that report.
  bool launch_exec_event_due_ = false;
  bool target_stopped_ = false;    // the target is in a job-control stop
  bool stop_with_target_ = false;  // a terminal stop (Ctrl+Z) asked the job to stop
  RewritePacer pacer_{kFlushPeriod};  // when the certificate file may be rewritten
  std::optional<int> death_signal_;
  int exit_status_ = 0;
};

}  // namespace deathwatch
