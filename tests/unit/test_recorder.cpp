// The recorder (src/recorder.cpp) fed scripted observations: no process, no ptrace, no eBPF.
// A fake lookup answers for /proc, a recording sink stands for the files.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>

#include <map>

#include "deathwatch/recorder.h"

#include "builders.h"

using namespace deathwatch;
using namespace deathwatch::testing;

namespace {

constexpr pid_t kWatcher = 100;
constexpr pid_t kTarget = 200;

class FakeLookup : public ProcessLookup {
 public:
  std::map<pid_t, Sender> processes;
  int sender_lookups = 0;
  Sender sender(const SignalSender& s, pid_t) override {
    ++sender_lookups;
    if (s.captured) return s.captured->identity;
    auto it = processes.find(s.pid);
    if (it != processes.end()) return it->second;
    Sender unknown;
    unknown.pid = s.pid;
    unknown.uid = s.uid;
    return unknown;
  }
  Sender identity(pid_t pid) override {
    auto it = processes.find(pid);
    return it != processes.end() ? it->second : process_sender(pid, "?");
  }
  std::optional<std::string> comm(pid_t pid) override {
    auto it = processes.find(pid);
    return it != processes.end() ? it->second.comm : std::nullopt;
  }
};

// What the sinks were told.
class RecordingSink : public Sink {
 public:
  std::size_t signals = 0, batched = 0, batches = 0, updates = 0, finals = 0;
  void signal_recorded(const SignalRecord&, Durability when) override {
    ++signals;
    if (when == Durability::EndOfBatch) ++batched;
  }
  void end_batch() override { ++batches; }
  void update(const Certificate&) override { ++updates; }
  void final(const Certificate&) override { ++finals; }
};

struct Bench {
  FakeLookup lookup;
  SignalForwarder forwarder;
  Outputs outputs;
  RecordingSink* sink;
  Recorder recorder;
  WallTime t0 = WallClock::now();

  explicit Bench(bool follow = true)
      : sink(new RecordingSink), recorder(lookup, forwarder, outputs, kWatcher, follow) {
    outputs.add(std::unique_ptr<Sink>(sink));
    recorder.certificate().process.argv = {"app"};
    recorder.set_target(kTarget, process_sender(kTarget, "app"));
  }
  WallTime at(double s) const {
    return t0 + std::chrono::duration_cast<WallClock::duration>(std::chrono::duration<double>(s));
  }
};

SignalSeen kill_from(pid_t receiver, pid_t sender, int signo, WallTime when) {
  SignalSeen seen;
  seen.time = when;
  seen.pid = seen.tid = receiver;
  seen.signo = signo;
  seen.code = SI_USER;
  seen.sender = SignalSender{sender, 1000, std::nullopt};
  return seen;
}

ProcessEnded ended(pid_t pid, int raw_status, WallTime when) {
  return ProcessEnded{pid, WaitStatus::decode(raw_status, false), when, std::nullopt, true};
}

int exit_status(int code) { return code << 8; }
int killed_status(int signo) { return signo; }

}  // namespace

TEST_CASE("a SIGTERM from another process, then exit 143: the sender is the cause") {
  Bench b;
  b.lookup.processes[300] = process_sender(300, "systemctl");
  b.recorder.record(kill_from(kTarget, 300, SIGTERM, b.at(1)));
  CHECK(b.sink->signals == 1);
  CHECK(b.recorder.urgent());  // a new sender: on disk before the target moves on
  b.recorder.mark_written();
  CHECK_FALSE(b.recorder.urgent());
  b.recorder.record(ended(kTarget, exit_status(143), b.at(1.2)));
  b.recorder.conclude(std::nullopt);
  const Certificate& c = b.recorder.snapshot();
  REQUIRE(c.signals.size() == 1);
  CHECK(c.signals[0].sender->comm == std::optional<std::string>("systemctl"));
  CHECK(c.outcome.exit_code == std::optional<int>(143));
  CHECK(c.final);
  CHECK(c.cause.category == CauseCategory::Signal);
  REQUIRE(c.cause.sender.has_value());
  CHECK(c.cause.sender->pid == std::optional<pid_t>(300));
}

TEST_CASE("a storm of 5,000 repeats is one record with a count, each on the event log") {
  Bench b;
  b.lookup.processes[300] = process_sender(300, "kill");
  b.outputs.begin_batch();
  for (int i = 0; i < 5000; ++i) b.recorder.record(kill_from(kTarget, 300, SIGUSR1, b.at(i * 0.001)));
  b.outputs.end_batch();
  const Certificate& c = b.recorder.snapshot();
  REQUIRE(c.signals.size() == 1);
  CHECK(c.signals[0].count == 5000);
  CHECK(c.signals[0].last_time == b.at(4999 * 0.001));
  CHECK(b.sink->signals == 5000);
  CHECK(b.sink->batched == 5000);
  CHECK(b.sink->batches == 1);
  CHECK(b.lookup.sender_lookups == 1);  // /proc read at the first one only
  CHECK(b.recorder.dirty());
}

TEST_CASE("1,500 distinct signals: the list stops at its bound, the rest is counted") {
  Bench b;
  for (int i = 0; i < 1500; ++i) b.recorder.record(kill_from(kTarget, 1000 + i, SIGUSR2, b.at(i)));
  const Certificate& c = b.recorder.snapshot();
  CHECK(c.signals.size() == kMaxSignalRecords);
  CHECK(c.signals_not_listed == 1500 - kMaxSignalRecords);
  CHECK(b.sink->signals == 1500);  // the event log has every one
}

TEST_CASE("the process's own signal and deathwatch's forward are told apart") {
  Bench b;
  // kill(0, SIGPWR) by the target reaches deathwatch too: its forward is dropped.
  b.forwarder.request(SIGPWR, kTarget, process_sender(kTarget, "app"), std::chrono::steady_clock::now());
  b.recorder.record(kill_from(kTarget, kTarget, SIGPWR, b.at(0.1)));
  CHECK_FALSE(b.forwarder.next_due().has_value());
  CHECK(b.recorder.snapshot().signals[0].sender->source == "self");
  CHECK_FALSE(b.recorder.urgent());
  // A signal from deathwatch itself is a forward: the original sender is kept.
  b.recorder.record(kill_from(kTarget, kWatcher, SIGTERM, b.at(0.2)));
  const SignalRecord& fwd = b.recorder.snapshot().signals[1];
  CHECK(fwd.sender->pid == std::optional<pid_t>(kWatcher));
  CHECK(fwd.sender->note == std::optional<std::string>("deathwatch itself"));
}

TEST_CASE("a descendant tree with an OOM victim: the grandchild's death explains the top's") {
  Bench b;
  b.recorder.record(ProcessStarted{201, kTarget, b.at(0.1)});
  b.recorder.record(ProcessExeced{201, std::vector<std::string>{"sh", "-c", "worker"}, "/bin/sh"});
  b.recorder.record(ProcessStarted{202, 201, b.at(0.2)});
  b.recorder.record(ProcessExeced{202, std::vector<std::string>{"worker"}, "/usr/bin/worker"});
  CHECK(b.recorder.tree().alive_count() == 2);

  OomVictim oom;
  oom.pid = oom.tid = 202;
  oom.time = b.at(1);
  oom.hook = "raw_tp/mark_victim";
  oom.anon_rss_kib = 65536;
  b.recorder.record(oom);
  CHECK(b.recorder.urgent());
  SignalSeen kill = kill_from(202, 202, SIGKILL, b.at(1));
  kill.code = SI_KERNEL;
  kill.sender.reset();
  b.recorder.record(kill);
  b.recorder.record(ended(202, killed_status(SIGKILL), b.at(1.01)));
  b.recorder.record(ended(201, exit_status(128 + SIGKILL), b.at(1.02)));
  b.recorder.record(ended(kTarget, exit_status(128 + SIGKILL), b.at(1.03)));
  b.recorder.conclude(std::nullopt);

  const Certificate& c = b.recorder.snapshot();
  CHECK(c.descendant_counts.started == 2);
  CHECK(c.descendant_counts.alive == 0);
  const Descendant* victim = nullptr;
  for (const auto& d : c.descendants)
    if (d.pid == 202) victim = &d;
  REQUIRE(victim != nullptr);
  REQUIRE(victim->oom.has_value());
  CHECK(victim->oom->anon_rss_kib == std::optional<long long>(65536));
  CHECK(victim->cause.category == CauseCategory::Oom);
  REQUIRE(c.root_cause.has_value());
  CHECK(c.root_cause->pid == 202);
  CHECK(c.root_cause->chain == std::vector<pid_t>{201, 202});
}

TEST_CASE("the target's own end: outcome, rusage when reaped, nothing invented otherwise") {
  Bench b;
  struct rusage usage {};
  usage.ru_maxrss = 4096;
  usage.ru_utime.tv_sec = 2;
  b.recorder.record(ProcessEnded{kTarget, WaitStatus::decode(exit_status(3), false), b.at(2), usage, true});
  const Certificate& c = b.recorder.snapshot();
  CHECK(c.outcome.exit_code == std::optional<int>(3));
  CHECK(c.resources.max_rss_kib == std::optional<long>(4096));
  CHECK(c.resources.user_cpu_s == std::optional<double>(2.0));

  Bench attached;
  attached.recorder.record(ended(kTarget, killed_status(SIGTERM), attached.at(1)));
  CHECK(attached.recorder.snapshot().outcome.signal == std::optional<int>(SIGTERM));
  CHECK_FALSE(attached.recorder.snapshot().resources.max_rss_kib.has_value());
}

TEST_CASE("what the file needs: changes are dirty, a new sender or an OOM victim is news") {
  Bench b;
  CHECK_FALSE(b.recorder.dirty());
  b.recorder.record(ProcessStarted{201, kTarget, b.at(0.1)});
  CHECK(b.recorder.dirty());
  CHECK_FALSE(b.recorder.urgent());
  b.recorder.mark_written();
  CHECK_FALSE(b.recorder.dirty());
  b.recorder.record(kill_from(kTarget, 300, SIGHUP, b.at(0.3)));
  CHECK(b.recorder.urgent());
  b.recorder.mark_written();
  b.recorder.record(kill_from(kTarget, 300, SIGHUP, b.at(0.4)));  // a repeat: not news
  CHECK(b.recorder.dirty());
  CHECK_FALSE(b.recorder.urgent());
}

TEST_CASE("ptrace: a sender that ended before its signal was read is named as it exited") {
  Bench b;
  b.recorder.record(ProcessStarted{201, kTarget, b.at(0.1)});  // the receiver
  b.recorder.record(ProcessStarted{202, kTarget, b.at(0.2)});  // kill(1), its sender
  b.lookup.processes[202] = process_sender(202, "kill");
  b.recorder.record(ProcessExiting{202, exit_status(0)});  // its exit stop: the name is read
  b.lookup.processes.erase(202);                            // and it is gone from /proc
  b.recorder.record(kill_from(201, 202, SIGTERM, WallClock::now()));
  const Certificate& c = b.recorder.snapshot();
  REQUIRE(c.signals.size() == 1);
  REQUIRE(c.signals[0].sender.has_value());
  CHECK(c.signals[0].sender->pid == std::optional<pid_t>(202));
  CHECK(c.signals[0].sender->comm == std::optional<std::string>("kill"));
  REQUIRE(c.signals[0].sender->note.has_value());
  CHECK(c.signals[0].sender->note->find("ended before its signal was seen") != std::string::npos);

  // The pid starts another process: what was read at the old one's exit no longer holds.
  b.recorder.record(ProcessStarted{202, kTarget, b.at(0.3)});
  b.recorder.record(kill_from(201, 202, SIGUSR1, WallClock::now()));
  const Certificate& after = b.recorder.snapshot();
  REQUIRE(after.signals.size() == 2);
  CHECK_FALSE(after.signals[1].sender->comm.has_value());
}
