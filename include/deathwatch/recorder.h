// The recorder: owns the certificate model and folds observations into it. Sender
// attribution (the process itself, deathwatch's own forward, another process), repeat
// counting, the bounded lists, the process tree, OOM evidence per process, and the state
// that says when the file must be rewritten all live here, and nowhere else.
//
// It does no I/O of its own: identities come through a ProcessLookup (/proc in deathwatch,
// a fake in tests), recorded signals go to the Outputs, and time is given to it. So it is
// unit-tested with scripted observations (tests/unit/test_recorder.cpp).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <set>
#include <optional>
#include <string>
#include <tuple>
#include <unordered_map>
#include <unordered_set>

#include "deathwatch/certificate.h"
#include "deathwatch/death_scenes.h"
#include "deathwatch/forwarder.h"
#include "deathwatch/observation.h"
#include "deathwatch/oom_evidence.h"
#include "deathwatch/process_tree.h"
#include "deathwatch/sink.h"

namespace deathwatch {

// Distinct signal records kept in the certificate; repeats only count, more are counted.
inline constexpr std::size_t kMaxSignalRecords = 1000;

// How the recorder learns who a process is.
class ProcessLookup {
 public:
  virtual ~ProcessLookup() = default;
  // The sender of a signal that `receiver` got: completed from /proc when the kernel
  // captured it, else looked up by pid (ptrace: si_pid is in the receiver's namespace).
  virtual Sender sender(const SignalSender& sender, pid_t receiver) = 0;
  // A live process: the target after exec, deathwatch itself, a descendant about to exit.
  virtual Sender identity(pid_t pid) = 0;
  // `pid` ended: whatever was remembered about it no longer holds (its pid may be reused).
  virtual void forget(pid_t) {}
  // The name of a live process, alone (cheaper than its identity).
  virtual std::optional<std::string> comm(pid_t) { return std::nullopt; }
};

// The real one: /proc and libsystemd.
class ProcfsLookup : public ProcessLookup {
 public:
  Sender sender(const SignalSender& sender, pid_t receiver) override;
  Sender identity(pid_t pid) override;
  void forget(pid_t pid) override { receiver_in_our_pid_namespace_.erase(pid); }
  std::optional<std::string> comm(pid_t pid) override;

 private:
  // Per receiver, for its life (a process never changes pid namespace): read once, not at
  // every signal it receives.
  std::unordered_map<pid_t, bool> receiver_in_our_pid_namespace_;
};

class Recorder {
 public:
  // `watcher` is deathwatch's own pid (a signal from it is a forward); `follow` records
  // descendants.
  Recorder(ProcessLookup& lookup, SignalForwarder& forwarder, Outputs& outputs, pid_t watcher,
           bool follow);

  // The process being watched, once it exists; `identity` answers for signals it sends
  // itself (known at attach, else learned at its exec).
  void set_target(pid_t pid, std::optional<Sender> identity = std::nullopt);
  // OOM evidence without eBPF (kernel log, cgroup counters); optional.
  void set_oom_probe(OomProbe* probe) { oom_probe_ = probe; }
  // Last words (--last-words): how scenes are read, and whose are kept. Off by default.
  void set_last_words(LastWordsReader* reader, LastWordsPolicy policy) { scenes_.configure(reader, policy); }
  // What the JVM agent reported for `pid`; given before its end is concluded.
  void set_java_last_words(pid_t pid, std::optional<JavaLastWords> java, std::optional<std::string> note) {
    scenes_.set_java(pid, std::move(java), std::move(note));
  }
  // deathwatch itself may send `signo` to `pid` (the JVM attach's SIGQUIT): such a copy,
  // unless it is a forward, is deathwatch's own probe, not an event in the process's life,
  // and is not recorded. Until `pid` ends.
  void expect_probe_signal(pid_t pid, int signo) { probe_signals_.insert({pid, signo}); }

  // Folds one observation into the model.
  void record(const Observation& observation);
  // A forward deathwatch sent whose delivery no backend can see (plain mode).
  void record_unseen_forward(int signo, const Sender& from, WallTime when);
  // A descendant whose end was never reported is gone.
  void record_vanished(pid_t pid, WallTime when);
  // A descendant that existed before the watch began (attach).
  void record_existing_descendant(pid_t pid, pid_t parent, WallTime started, const Sender& identity);

  void warn(const std::string& message);
  // The cause of the top's death, its OOM evidence and root cause; marks the model final.
  // `privilege_fix` (how to enable the eBPF backend, when it was not active) is added to the
  // evidence only where its absence changed the answer: a SIGKILL whose sender stayed
  // unknown, an OOM kill seen only through counters or the kernel log.
  void conclude(const std::optional<std::string>& privilege_fix);

  Certificate& certificate() { return certificate_; }
  // The model with its descendant lists brought up to date, as sinks should see it.
  const Certificate& snapshot();
  const ProcessTree& tree() const { return tree_; }

  // Whether the certificate changed since it was last written, and whether the change is
  // news (a new sender, an OOM victim) that the file should get as soon as it may.
  bool dirty() const { return dirty_; }
  bool urgent() const { return urgent_; }
  void mark_written();

 private:
  // (receiver, signal, si_code, sender pid or -1, forwarded)
  using RecordKey = std::tuple<pid_t, int, int, pid_t, bool>;

  void on_signal(const SignalSeen& seen);
  void on_started(const ProcessStarted& started);
  void on_execed(const ProcessExeced& exec);
  void on_exiting(const ProcessExiting& exiting);
  void on_ended(const ProcessEnded& ended);
  void on_oom_victim(const OomVictim& victim);
  // Fills record.sender (and forwarded_from); true when another process sent it.
  bool attribute_sender(SignalRecord& record, const SignalSender& sender);
  void add(SignalRecord record, bool names_other_process);
  void descendant_died(pid_t pid, const Outcome& outcome, WallTime when);
  // A sender already gone when its signal was read (ptrace): named as it was at its exit.
  void name_exited_sender(Sender& sender, pid_t pid, WallTime signal_time) const;

  ProcessLookup& lookup_;
  SignalForwarder& forwarder_;
  Outputs& outputs_;
  pid_t watcher_;
  bool follow_;
  OomProbe* oom_probe_ = nullptr;
  DeathScenes scenes_;
  std::set<std::pair<pid_t, int>> probe_signals_;
  pid_t target_ = -1;
  std::optional<Sender> target_identity_;
  Certificate certificate_;
  ProcessTree tree_{0};
  std::map<RecordKey, std::size_t> record_index_;
  std::unordered_set<pid_t> signalled_pids_;           // received a signal from a process
  std::unordered_map<pid_t, OomKill> descendant_oom_;  // OOM victims not yet ended
  // ptrace: the names of descendants that ended, read at their exit stop. A sender that ends
  // at once (kill(1)) can be gone before the receiver's delivery stop is read: /proc no longer
  // knows it, this does. Bounded; an entry leaves when its pid starts a process again.
  struct ExitedName {
    std::string comm;
    WallTime at;
  };
  std::unordered_map<pid_t, ExitedName> exited_names_;
  bool dirty_ = false;
  bool urgent_ = false;
};

// The certificate's outcome for a wait status.
Outcome outcome_from(const WaitStatus& status);

}  // namespace deathwatch
