// Classification of a death into a cause (src/verdict.cpp). Records are built the way the
// supervisor builds them: origin from classify_origin(signo, code).
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <string>
#include <vector>

#include "deathwatch/verdict.h"

using namespace deathwatch;
using std::chrono::milliseconds;
using std::chrono::seconds;

#include "builders.h"

using namespace deathwatch::testing;

namespace {

constexpr pid_t kTarget = 4242;
constexpr pid_t kOther = 2362819;

const WallTime kEnd = WallTime{} + seconds(1795701299);

bool any_contains(const std::vector<std::string>& lines, const std::string& needle) {
  for (const auto& l : lines)
    if (contains(l, needle)) return true;
  return false;
}

SignalRecord record(int signo, int code, WallTime when = kEnd - milliseconds(5),
                    pid_t receiver = kTarget) {
  SignalRecord r;
  r.time = r.last_time = when;
  r.pid = r.tid = receiver;
  r.signo = signo;
  r.code = code;
  r.origin = classify_origin(signo, code);
  return r;
}

SignalRecord sent_by(int signo, int code, const Sender& sender,
                     WallTime when = kEnd - milliseconds(5), pid_t receiver = kTarget) {
  SignalRecord r = record(signo, code, when, receiver);
  r.sender = sender;
  return r;
}

}  // namespace

TEST_CASE("exit with no signals: exit, certain") {
  const Cause c = decide_cause(exited(3), kTarget, {}, kEnd);
  CHECK(c.category == CauseCategory::Exit);
  CHECK(c.confidence == Confidence::Certain);
  CHECK_FALSE(c.signal.has_value());
  CHECK_FALSE(c.sender.has_value());
  CHECK(contains(c.summary, "3"));
  CHECK(any_contains(c.evidence, "exited with code 3"));
}

TEST_CASE("exit 0 with only unrelated signals: exit") {
  // SIGUSR1 and SIGCHLD are not shutdown requests.
  const std::vector<SignalRecord> signals = {
      sent_by(SIGUSR1, SI_USER, process_sender(kOther, "bash")),
      record(SIGCHLD, CLD_EXITED),
  };
  const Cause c = decide_cause(exited(0), kTarget, signals, kEnd);
  CHECK(c.category == CauseCategory::Exit);
  CHECK(c.confidence == Confidence::Certain);
}

TEST_CASE("killed by SIGTERM from another process: signal, certain, that sender") {
  const Sender bash = process_sender(kOther, "bash");
  const std::vector<SignalRecord> signals = {sent_by(SIGTERM, SI_USER, bash)};
  const Cause c = decide_cause(killed(SIGTERM), kTarget, signals, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Certain);
  REQUIRE(c.signal.has_value());
  CHECK(*c.signal == SIGTERM);
  REQUIRE(c.sender.has_value());
  REQUIRE(c.sender->pid.has_value());
  CHECK(*c.sender->pid == kOther);
  CHECK(c.sender->comm == "bash");
  CHECK(contains(c.summary, "bash"));
  CHECK(contains(c.summary, std::to_string(kOther)));
  REQUIRE_FALSE(c.evidence.empty());
  CHECK(contains(c.evidence.front(), "wait status: killed by SIGTERM"));
  CHECK(any_contains(c.evidence, "si_pid=" + std::to_string(kOther)));
  CHECK(any_contains(c.evidence, "SI_USER"));
}

TEST_CASE("the latest matching record is the fatal one") {
  const std::vector<SignalRecord> signals = {
      sent_by(SIGTERM, SI_USER, process_sender(111, "first"), kEnd - seconds(10)),
      sent_by(SIGTERM, SI_USER, process_sender(222, "second"), kEnd - seconds(1)),
      sent_by(SIGTERM, SI_USER, process_sender(333, "older"), kEnd - seconds(5)),
  };
  const Cause c = decide_cause(killed(SIGTERM), kTarget, signals, kEnd);
  REQUIRE(c.sender.has_value());
  CHECK(c.sender->pid == 222);
}

TEST_CASE("records for other processes are ignored") {
  const std::vector<SignalRecord> signals = {
      sent_by(SIGTERM, SI_USER, process_sender(kOther, "bash"), kEnd - milliseconds(5), 9999)};
  const Cause c = decide_cause(killed(SIGTERM), kTarget, signals, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Unknown);
  CHECK_FALSE(c.sender.has_value());

  const Cause e = decide_cause(exited(143), kTarget, signals, kEnd);
  CHECK(e.category == CauseCategory::Exit);
}

TEST_CASE("SIGKILL with no record: signal, no sender, confidence unknown") {
  const Cause c = decide_cause(killed(SIGKILL), kTarget, {}, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Unknown);
  CHECK_FALSE(c.sender.has_value());
  REQUIRE(c.signal.has_value());
  CHECK(*c.signal == SIGKILL);
  CHECK(contains(c.summary, "SIGKILL"));
  CHECK(contains(c.summary, "unknown sender"));
  CHECK(any_contains(c.evidence, "a ptrace tracer never sees SIGKILL"));
}

TEST_CASE("another signal with no record: unknown sender, says it was not observed") {
  // A record of a different signal is not evidence for this one.
  const std::vector<SignalRecord> signals = {
      sent_by(SIGTERM, SI_USER, process_sender(kOther, "bash"))};
  const Cause c = decide_cause(killed(SIGHUP), kTarget, signals, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Unknown);
  CHECK_FALSE(c.sender.has_value());
  CHECK(*c.signal == SIGHUP);
  CHECK(any_contains(c.evidence, "no delivery of SIGHUP was observed"));
}

TEST_CASE("SIGSEGV fault (SEGV_MAPERR): crash, with the fault address in the summary") {
  SignalRecord r = record(SIGSEGV, SEGV_MAPERR);
  REQUIRE(r.origin == SignalOrigin::Fault);
  r.fault_address = 0xdeadbeef;
  const Cause c = decide_cause(killed(SIGSEGV, true), kTarget, {r}, kEnd);
  CHECK(c.category == CauseCategory::Crash);
  CHECK(c.confidence == Confidence::Certain);
  CHECK_FALSE(c.sender.has_value());
  CHECK(contains(c.summary, "SIGSEGV"));
  CHECK(contains(c.summary, "SEGV_MAPERR"));
  CHECK(contains(c.summary, "0xdeadbeef"));
  CHECK(any_contains(c.evidence, "si_addr=0xdeadbeef"));
  CHECK(contains(c.evidence.front(), "(core dumped)"));
}

TEST_CASE("a NULL dereference still names its address") {
  SignalRecord r = record(SIGSEGV, SEGV_MAPERR);
  r.fault_address = 0;
  const Cause c = decide_cause(killed(SIGSEGV), kTarget, {r}, kEnd);
  CHECK(c.category == CauseCategory::Crash);
  CHECK(contains(c.summary, "at address 0x0"));
}

TEST_CASE("SIGSEGV with SI_KERNEL (general protection fault): crash") {
  const Cause c = decide_cause(killed(SIGSEGV), kTarget, {record(SIGSEGV, SI_KERNEL)}, kEnd);
  CHECK(c.category == CauseCategory::Crash);
  CHECK(c.confidence == Confidence::Certain);
}

TEST_CASE("self-sent SIGABRT (abort()): crash") {
  Sender self = process_sender(kTarget, "myprog");
  self.source = "self";
  for (int code : {SI_TKILL, SI_USER}) {
    CAPTURE(code);
    const Cause c = decide_cause(killed(SIGABRT, true), kTarget,
                                 {sent_by(SIGABRT, code, self)}, kEnd);
    CHECK(c.category == CauseCategory::Crash);
    CHECK(c.confidence == Confidence::Certain);
    CHECK(contains(c.summary, "abort"));
  }
}

TEST_CASE("SIGABRT from another process is a signal, not a crash") {
  const Cause c = decide_cause(killed(SIGABRT), kTarget,
                               {sent_by(SIGABRT, SI_USER, process_sender(kOther, "bash"))}, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Certain);
  REQUIRE(c.sender.has_value());
  CHECK(c.sender->pid == kOther);
}

TEST_CASE("a self-sent SIGTERM is a signal from the process itself") {
  Sender self = process_sender(kTarget, "myprog");
  self.source = "self";
  const Cause c = decide_cause(killed(SIGTERM), kTarget, {sent_by(SIGTERM, SI_TKILL, self)}, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Certain);
  REQUIRE(c.sender.has_value());
  CHECK(c.sender->pid == kTarget);
  CHECK(contains(c.summary, "itself"));
}

TEST_CASE("SIGINT with SI_KERNEL: terminal (Ctrl+C)") {
  const Cause c = decide_cause(killed(SIGINT), kTarget, {record(SIGINT, SI_KERNEL)}, kEnd);
  CHECK(c.category == CauseCategory::Terminal);
  CHECK(c.confidence == Confidence::Certain);
  CHECK_FALSE(c.sender.has_value());
  CHECK(contains(c.summary, "Ctrl+C"));
  CHECK(any_contains(c.evidence, "SI_KERNEL"));
}

TEST_CASE("SIGQUIT and SIGHUP with SI_KERNEL: terminal") {
  CHECK(decide_cause(killed(SIGQUIT), kTarget, {record(SIGQUIT, SI_KERNEL)}, kEnd).category ==
        CauseCategory::Terminal);
  CHECK(decide_cause(killed(SIGHUP), kTarget, {record(SIGHUP, SI_KERNEL)}, kEnd).category ==
        CauseCategory::Terminal);
}

TEST_CASE("SIGINT sent with kill() by a process is a signal, not the terminal") {
  const Cause c = decide_cause(killed(SIGINT), kTarget,
                               {sent_by(SIGINT, SI_USER, process_sender(kOther, "kill"))}, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.sender->pid == kOther);
}

TEST_CASE("SIGPIPE, SI_USER, si_pid == receiver: kernel, likely") {
  Sender self = process_sender(kTarget, "writer");
  self.source = "self";
  const Cause c = decide_cause(killed(SIGPIPE), kTarget, {sent_by(SIGPIPE, SI_USER, self)}, kEnd);
  CHECK(c.category == CauseCategory::Kernel);
  CHECK(c.confidence == Confidence::Likely);
  CHECK(contains(c.summary, "pipe"));
}

TEST_CASE("SIGPIPE sent by another process is a signal from it") {
  const Cause c = decide_cause(killed(SIGPIPE), kTarget,
                               {sent_by(SIGPIPE, SI_USER, process_sender(kOther, "bash"))}, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Certain);
}

TEST_CASE("SIGALRM with SI_KERNEL (alarm()): kernel") {
  const Cause c = decide_cause(killed(SIGALRM), kTarget, {record(SIGALRM, SI_KERNEL)}, kEnd);
  CHECK(c.category == CauseCategory::Kernel);
  CHECK(c.confidence == Confidence::Certain);
  CHECK_FALSE(c.sender.has_value());
  CHECK(contains(c.summary, "alarm()"));
}

TEST_CASE("SIGALRM from a POSIX timer: kernel") {
  const Cause c = decide_cause(killed(SIGALRM), kTarget, {record(SIGALRM, SI_TIMER)}, kEnd);
  CHECK(c.category == CauseCategory::Kernel);
  CHECK(contains(c.summary, "POSIX timer"));
}

TEST_CASE("SIGXCPU with SI_KERNEL: kernel, names the rlimit") {
  const Cause c = decide_cause(killed(SIGXCPU, true), kTarget, {record(SIGXCPU, SI_KERNEL)}, kEnd);
  CHECK(c.category == CauseCategory::Kernel);
  CHECK(contains(c.summary, "RLIMIT_CPU"));
}

TEST_CASE("exit code 143 after a caught SIGTERM (SI_USER): signal, certain") {
  const Sender bash = process_sender(kOther, "bash");
  const std::vector<SignalRecord> signals = {sent_by(SIGTERM, SI_USER, bash, kEnd - seconds(2))};
  const Cause c = decide_cause(exited(143), kTarget, signals, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Certain);
  REQUIRE(c.signal.has_value());
  CHECK(*c.signal == SIGTERM);
  REQUIRE(c.sender.has_value());
  CHECK(c.sender->pid == kOther);
  CHECK(contains(c.summary, "143"));
  CHECK(contains(c.summary, "128+15"));
  REQUIRE_FALSE(c.evidence.empty());
  CHECK(contains(c.evidence.front(), "128 + SIGTERM"));
}

TEST_CASE("exit code 130 after a caught SIGINT from the terminal: terminal, certain") {
  const Cause c = decide_cause(exited(130), kTarget, {record(SIGINT, SI_KERNEL)}, kEnd);
  CHECK(c.category == CauseCategory::Terminal);
  CHECK(c.confidence == Confidence::Certain);
}

TEST_CASE("exit 0 within 30 s after a SIGTERM: signal, likely") {
  const Sender bash = process_sender(kOther, "bash");
  const std::vector<SignalRecord> signals = {sent_by(SIGTERM, SI_USER, bash, kEnd - seconds(2))};
  const Cause c = decide_cause(exited(0), kTarget, signals, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Likely);
  REQUIRE(c.sender.has_value());
  CHECK(c.sender->pid == kOther);
  CHECK(contains(c.summary, "2000 ms"));
  CHECK(contains(c.evidence.front(), "a caught SIGTERM preceded it"));
}

TEST_CASE("the 30 s window for a caught signal") {
  const Sender bash = process_sender(kOther, "bash");
  const auto at_age = [&](WallClock::duration age) {
    return decide_cause(exited(0), kTarget, {sent_by(SIGTERM, SI_USER, bash, kEnd - age)}, kEnd);
  };
  CHECK(at_age(seconds(29)).category == CauseCategory::Signal);
  CHECK(at_age(seconds(31)).category == CauseCategory::Exit);
}

TEST_CASE("the window counts from the last of collapsed records") {
  SignalRecord r = sent_by(SIGTERM, SI_USER, process_sender(kOther, "bash"), kEnd - seconds(120));
  r.count = 4;
  r.last_time = kEnd - seconds(3);
  const Cause c = decide_cause(exited(0), kTarget, {r}, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Likely);
}

TEST_CASE("exit 1 with a SIGTERM 60 s before: exit") {
  const Sender bash = process_sender(kOther, "bash");
  const std::vector<SignalRecord> signals = {sent_by(SIGTERM, SI_USER, bash, kEnd - seconds(60))};
  const Cause c = decide_cause(exited(1), kTarget, signals, kEnd);
  CHECK(c.category == CauseCategory::Exit);
  CHECK(c.confidence == Confidence::Certain);
  CHECK_FALSE(c.sender.has_value());
}

TEST_CASE("a forwarded SIGTERM: signal, the sender is the process that asked deathwatch") {
  // The target sees deathwatch as the sender; the certificate must name the real one.
  Sender deathwatch = process_sender(100, "deathwatch", 0);
  deathwatch.note = "deathwatch itself";
  Sender systemctl = process_sender(kOther, "systemctl", 0);
  systemctl.ancestry = {{1, "systemd"}};
  SignalRecord r = sent_by(SIGTERM, SI_USER, deathwatch);
  r.forwarded_from = systemctl;

  const Cause c = decide_cause(killed(SIGTERM), kTarget, {r}, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Certain);
  REQUIRE(c.sender.has_value());
  CHECK(c.sender->pid == kOther);
  CHECK(c.sender->comm == "systemctl");
  CHECK(c.sender->ancestry.size() == 1);
  CHECK(contains(c.summary, "systemctl"));
  CHECK(contains(c.summary, "forwarded"));
  CHECK(any_contains(c.evidence, "forwarded"));
}

TEST_CASE("si_pid 0 (sender outside the pid namespace): signal, likely") {
  Sender outside;
  outside.uid = 0;
  outside.note = "a process outside the receiver's pid namespace (si_pid 0)";
  const Cause c =
      decide_cause(killed(SIGTERM), kTarget, {sent_by(SIGTERM, SI_USER, outside)}, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Likely);
  REQUIRE(c.sender.has_value());
  CHECK_FALSE(c.sender->pid.has_value());
  CHECK(c.sender->uid == 0u);
  CAPTURE(c.summary);
  CHECK(contains(c.summary, "outside the receiver's pid namespace"));
  CHECK_FALSE(contains(c.summary, "deathwatch's pid namespace"));
}

TEST_CASE("a sender whose identity came only from siginfo keeps its note in the evidence") {
  Sender gone;
  gone.pid = kOther;
  gone.uid = 1000;
  gone.note = "sender had exited before it could be read; pid and uid from siginfo";
  const Cause c = decide_cause(killed(SIGTERM), kTarget, {sent_by(SIGTERM, SI_USER, gone)}, kEnd);
  CHECK(c.category == CauseCategory::Signal);
  CHECK(c.confidence == Confidence::Certain);
  CHECK(any_contains(c.evidence, "sender had exited"));
}

TEST_CASE("alive and unknown outcomes") {
  const Cause a = decide_cause([] { Outcome o; o.kind = OutcomeKind::Alive; return o; }(),
                               kTarget, {}, kEnd);
  CHECK(a.category == CauseCategory::Unknown);
  CHECK(a.confidence == Confidence::Unknown);
  CHECK(contains(a.summary, "alive"));

  const Cause u = decide_cause(Outcome{}, kTarget, {}, kEnd);
  CHECK(u.category == CauseCategory::Unknown);
  CHECK(u.confidence == Confidence::Unknown);
  CHECK(contains(u.summary, "unknown"));
}

TEST_CASE("terminal_key") {
  CHECK(std::string(terminal_key(SIGINT)) == "Ctrl+C");
  CHECK(std::string(terminal_key(SIGQUIT)) == "Ctrl+\\");
  CHECK(std::string(terminal_key(SIGTSTP)) == "Ctrl+Z");
  CHECK(terminal_key(SIGHUP) != nullptr);
  CHECK(terminal_key(SIGTERM) == nullptr);
  CHECK(terminal_key(SIGKILL) == nullptr);
}

TEST_CASE("an ignored signal is listed but never the cause") {
  SignalRecord hup = sent_by(SIGHUP, SI_USER, process_sender(kOther, "bash"), kEnd - milliseconds(500));
  hup.disposition = Disposition::Ignored;
  const Cause exit_cause = decide_cause(exited(1), kTarget, {hup}, kEnd);
  CHECK(exit_cause.category == CauseCategory::Exit);
  CHECK(exit_cause.confidence == Confidence::Certain);
  SignalRecord term = sent_by(SIGTERM, SI_USER, process_sender(kOther, "timeout"));
  term.disposition = Disposition::Ignored;
  CHECK(decide_cause(exited(143), kTarget, {term}, kEnd).category == CauseCategory::Exit);
}

TEST_CASE("the sender of the copy delivered last is the cause, not one whose first copy was") {
  // Y's copy queued at t-1.5 s and handled; X's first copy merged into it ("already
  // pending"), X's second delivered at t-5 ms: that one killed.
  SignalRecord y = sent_by(SIGTERM, SI_USER, process_sender(3001, "y"), kEnd - milliseconds(1500));
  y.kernel_result = "delivered";
  y.disposition = Disposition::Handled;
  y.last_delivered = y.time;
  SignalRecord x = sent_by(SIGTERM, SI_USER, process_sender(3002, "x"), kEnd - milliseconds(1200));
  x.count = 2;
  x.last_time = kEnd - milliseconds(5);
  x.kernel_result = "delivered";
  x.disposition = Disposition::Default;
  x.last_delivered = x.last_time;
  Cause c = decide_cause(killed(SIGTERM), kTarget, {y, x}, kEnd);
  REQUIRE(c.sender.has_value());
  CHECK(c.sender->pid == std::optional<pid_t>(3002));
  // X's only copy merged: it never reached the process; Y's did.
  x.count = 1;
  x.last_time = x.time;
  x.kernel_result = "already pending";
  x.last_delivered.reset();
  c = decide_cause(killed(SIGTERM), kTarget, {y, x}, kEnd);
  REQUIRE(c.sender.has_value());
  CHECK(c.sender->pid == std::optional<pid_t>(3001));
}
