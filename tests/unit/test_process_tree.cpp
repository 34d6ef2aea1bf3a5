// The watched process's descendants (src/process_tree.cpp): argv bookkeeping, which deaths are
// kept, the list's bound, counts, snapshot order and the root cause of the top's death.
// Each descendant's cause is decided by on_exit itself (decide_cause), from the signal records
// passed for that descendant's pid.
#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "deathwatch/process_tree.h"
#include "deathwatch/verdict.h"

using namespace deathwatch;
using std::chrono::milliseconds;
using std::chrono::seconds;

#include "builders.h"

using namespace deathwatch::testing;

namespace {

constexpr pid_t kTop = 1000;
const WallTime kT0 = WallTime{} + seconds(1795701000);

WallTime at(int secs, int ms = 0) { return kT0 + seconds(secs) + milliseconds(ms); }

using Argv = std::vector<std::string>;

// `signo` sent with kill(2) (SI_USER) by `sender` to `receiver` at `when`.
SignalRecord sent(pid_t receiver, int signo, const Sender& sender, WallTime when) {
  SignalRecord r;
  r.time = r.last_time = when;
  r.pid = r.tid = receiver;
  r.signo = signo;
  r.code = SI_USER;
  r.origin = classify_origin(signo, SI_USER);
  r.sender = sender;
  return r;
}

const Descendant* find(const std::vector<Descendant>& list, pid_t pid) {
  for (const auto& d : list)
    if (d.pid == pid) return &d;
  return nullptr;
}

std::vector<pid_t> pids_of(const std::vector<Descendant>& list) {
  std::vector<pid_t> out;
  for (const auto& d : list) out.push_back(d.pid);
  return out;
}

// The top's own cause, decided the way the supervisor does it.
Cause top_cause(const Outcome& outcome, const std::vector<SignalRecord>& signals = {},
                WallTime end = at(100)) {
  return decide_cause(outcome, kTop, signals, end);
}

}  // namespace

TEST_CASE("on_start: a fork child inherits its parent's argv") {
  ProcessTree tree(kTop);
  tree.set_top_argv({"bash", "run.sh"});
  tree.on_start(2001, kTop, at(1));
  REQUIRE(tree.argv_of(2001) != nullptr);
  CHECK(*tree.argv_of(2001) == Argv{"bash", "run.sh"});
  REQUIRE(tree.argv_of(kTop) != nullptr);
  CHECK(*tree.argv_of(kTop) == Argv{"bash", "run.sh"});

  // A grandchild forked after its parent exec'd inherits the new argv, not the top's.
  tree.on_exec(2001, {"python3", "worker.py"}, "/usr/bin/python3.12");
  tree.on_start(2002, 2001, at(2));
  REQUIRE(tree.argv_of(2002) != nullptr);
  CHECK(*tree.argv_of(2002) == Argv{"python3", "worker.py"});

  // A parent the tree does not know: no argv to inherit.
  tree.on_start(2003, 777, at(3));
  REQUIRE(tree.argv_of(2003) != nullptr);
  CHECK(tree.argv_of(2003)->empty());

  CHECK(tree.is_descendant(2001));
  CHECK(tree.is_descendant(2002));
  CHECK_FALSE(tree.is_descendant(kTop));
  CHECK_FALSE(tree.is_descendant(9999));
  CHECK(tree.argv_of(9999) == nullptr);
  CHECK(tree.counts().started == 3);
}

TEST_CASE("on_start: the top and an already known pid are not started again") {
  ProcessTree tree(kTop);
  tree.set_top_argv({"top"});
  tree.on_start(kTop, 1, at(0));
  CHECK_FALSE(tree.is_descendant(kTop));
  CHECK(tree.counts().started == 0);

  tree.on_start(2001, kTop, at(1));
  tree.on_exec(2001, {"sleep", "300"}, std::nullopt);
  tree.on_start(2001, 555, at(2));  // duplicate report: keeps the first
  CHECK(tree.counts().started == 1);
  const auto snap = tree.snapshot();
  REQUIRE(snap.size() == 1);
  CHECK(snap[0].ppid == kTop);
  CHECK(snap[0].started_at == at(1));
  CHECK(snap[0].argv == Argv{"sleep", "300"});
}

TEST_CASE("on_exec replaces argv and sets exe") {
  ProcessTree tree(kTop);
  tree.set_top_argv({"sh", "-c", "sleep 300"});
  tree.on_start(2001, kTop, at(1));
  tree.on_exec(2001, {"sleep", "300"}, "/usr/bin/sleep");
  auto snap = tree.snapshot();
  REQUIRE(snap.size() == 1);
  CHECK(snap[0].argv == Argv{"sleep", "300"});
  REQUIRE(snap[0].exe.has_value());
  CHECK(*snap[0].exe == "/usr/bin/sleep");

  // A second exec replaces it again.
  tree.on_exec(2001, {"env", "X=1"}, "/usr/bin/env");
  snap = tree.snapshot();
  REQUIRE(snap.size() == 1);
  CHECK(snap[0].argv == Argv{"env", "X=1"});
  CHECK(snap[0].exe == std::optional<std::string>("/usr/bin/env"));

  // An exec whose argv could not be read keeps the last known one; a missing exe keeps it too.
  tree.on_exec(2001, {}, std::nullopt);
  snap = tree.snapshot();
  REQUIRE(snap.size() == 1);
  CHECK(snap[0].argv == Argv{"env", "X=1"});
  CHECK(snap[0].exe == std::optional<std::string>("/usr/bin/env"));

  // Unknown pid: ignored, nothing added.
  tree.on_exec(3333, {"x"}, "/x");
  CHECK(tree.snapshot().size() == 1);
  CHECK(tree.argv_of(3333) == nullptr);
}

TEST_CASE("on_exit: unknown pids and the top are not descendants") {
  ProcessTree tree(kTop);
  CHECK_FALSE(tree.on_exit(kTop, killed(SIGKILL), at(5), {}, std::nullopt));
  CHECK_FALSE(tree.on_exit(4242, killed(SIGKILL), at(5), {}, std::nullopt));
  tree.on_start(2001, kTop, at(1));
  CHECK(tree.on_exit(2001, exited(0), at(2), {}, std::nullopt));
  // Already dead: a second report is refused.
  CHECK_FALSE(tree.on_exit(2001, killed(SIGKILL), at(3), {}, std::nullopt));
  const auto c = tree.counts();
  CHECK(c.exited_normally == 1);
  CHECK(c.not_listed == 0);
  CHECK(tree.snapshot().empty());
}

TEST_CASE("on_exit keeps abnormal deaths and only counts normal exits") {
  const Sender bash = process_sender(3000, "bash");
  ProcessTree tree(kTop);
  tree.set_top_argv({"supervisor"});
  for (pid_t p = 2001; p <= 2006; ++p) tree.on_start(p, kTop, at(1));

  // Normal: exit 0, no signals.
  CHECK(tree.on_exit(2001, exited(0), at(10), {}, std::nullopt));
  // Normal: exit 0 after a SIGUSR1 (not a shutdown request).
  CHECK(tree.on_exit(2002, exited(0), at(11), {sent(2002, SIGUSR1, bash, at(10, 900))}, std::nullopt));
  // Normal: exit 0; the SIGTERM recorded was for another process.
  CHECK(tree.on_exit(2003, exited(0), at(12), {sent(9999, SIGTERM, bash, at(11, 900))}, std::nullopt));
  // Abnormal: killed.
  CHECK(tree.on_exit(2004, killed(SIGTERM), at(13), {sent(2004, SIGTERM, bash, at(12, 990))}, std::nullopt));
  // Abnormal: non-zero exit.
  CHECK(tree.on_exit(2005, exited(3), at(14), {}, std::nullopt));
  // Abnormal: exit 0 after a SIGTERM from another process (a graceful shutdown).
  CHECK(tree.on_exit(2006, exited(0), at(15), {sent(2006, SIGTERM, bash, at(14, 950))}, std::nullopt));

  const auto c = tree.counts();
  CHECK(c.started == 6);
  CHECK(c.exited_normally == 3);
  CHECK(c.not_listed == 0);
  CHECK(c.alive == 0);
  CHECK(tree.alive_count() == 0);

  const auto snap = tree.snapshot();
  CHECK(pids_of(snap) == std::vector<pid_t>{2004, 2005, 2006});

  const Descendant* k = find(snap, 2004);
  REQUIRE(k != nullptr);
  CHECK(k->ended_at == std::optional<WallTime>(at(13)));
  CHECK(k->outcome.kind == OutcomeKind::Killed);
  CHECK(k->cause.category == CauseCategory::Signal);
  CHECK(k->cause.confidence == Confidence::Certain);
  REQUIRE(k->cause.sender.has_value());
  CHECK(k->cause.sender->pid == std::optional<pid_t>(3000));
  CHECK(k->argv == Argv{"supervisor"});

  const Descendant* e = find(snap, 2005);
  REQUIRE(e != nullptr);
  CHECK(e->cause.category == CauseCategory::Exit);
  CHECK(e->outcome.exit_code == std::optional<int>(3));

  const Descendant* g = find(snap, 2006);
  REQUIRE(g != nullptr);
  CHECK(g->outcome.is_normal());
  CHECK(g->cause.category == CauseCategory::Signal);
  REQUIRE(g->cause.sender.has_value());
  CHECK(g->cause.sender->pid == std::optional<pid_t>(3000));
}

TEST_CASE("on_exit uses the OOM evidence given for the descendant") {
  ProcessTree tree(kTop);
  tree.on_start(2001, kTop, at(1));
  OomKill oom;
  oom.pid = 2001;
  oom.source = "kernel log";
  oom.confidence = Confidence::Certain;
  oom.anon_rss_kib = 524288;
  CHECK(tree.on_exit(2001, killed(SIGKILL), at(5), {}, oom));
  const auto snap = tree.snapshot();
  REQUIRE(snap.size() == 1);
  CHECK(snap[0].cause.category == CauseCategory::Oom);
  REQUIRE(snap[0].oom.has_value());
  CHECK(snap[0].oom->anon_rss_kib == std::optional<long long>(524288));
}

TEST_CASE("max_listed bounds the abnormal deaths kept; the rest are counted") {
  ProcessTree tree(kTop, 3);
  for (pid_t p = 2001; p <= 2008; ++p) tree.on_start(p, kTop, at(1));
  CHECK(tree.on_exit(2001, exited(1), at(10), {}, std::nullopt));
  CHECK(tree.on_exit(2002, killed(SIGKILL), at(11), {}, std::nullopt));
  CHECK(tree.on_exit(2003, exited(0), at(12), {}, std::nullopt));  // normal: not in the bound
  CHECK(tree.on_exit(2004, exited(2), at(13), {}, std::nullopt));
  CHECK(tree.on_exit(2005, exited(4), at(14), {}, std::nullopt));       // beyond the bound
  CHECK(tree.on_exit(2006, killed(SIGSEGV), at(15), {}, std::nullopt));  // beyond the bound
  CHECK(tree.on_exit(2007, exited(0), at(16), {}, std::nullopt));  // normal

  const auto c = tree.counts();
  CHECK(c.started == 8);
  CHECK(c.exited_normally == 2);
  CHECK(c.not_listed == 2);
  CHECK(c.alive == 1);

  // The first three abnormal deaths, then the one still alive.
  CHECK(pids_of(tree.snapshot()) == std::vector<pid_t>{2001, 2002, 2004, 2008});
}

TEST_CASE("counts().alive follows starts and exits") {
  ProcessTree tree(kTop);
  CHECK(tree.counts().alive == 0);
  tree.on_start(2001, kTop, at(1));
  tree.on_start(2002, kTop, at(2));
  tree.on_start(2003, 2002, at(3));
  CHECK(tree.counts().alive == 3);
  CHECK(tree.alive_count() == 3);
  auto pids = tree.alive_pids();
  std::sort(pids.begin(), pids.end());
  CHECK(pids == std::vector<pid_t>{2001, 2002, 2003});

  tree.on_exit(2002, exited(0), at(4), {}, std::nullopt);
  CHECK(tree.counts().alive == 2);
  tree.on_exit(2003, killed(SIGKILL), at(5), {}, std::nullopt);
  CHECK(tree.counts().alive == 1);
  CHECK(tree.alive_count() == 1);
  CHECK(tree.alive_pids() == std::vector<pid_t>{2001});
  CHECK(tree.counts().started == 3);
}

TEST_CASE("snapshot: abnormal deaths in order of death, then the living by start time") {
  ProcessTree tree(kTop);
  tree.set_top_argv({"top"});
  // Started in an order unrelated to pid order and to the order of the calls.
  tree.on_start(2005, kTop, at(50));
  tree.on_start(2001, kTop, at(30));
  tree.on_start(2009, kTop, at(10));
  tree.on_start(2003, kTop, at(40));
  tree.on_start(2007, kTop, at(20));
  tree.on_start(2100, kTop, at(1));
  tree.on_start(2101, kTop, at(2));
  tree.on_start(2102, kTop, at(3));

  // Deaths: 2102 first, then 2100, then 2101 (not in start or pid order); plus a normal exit.
  tree.on_exit(2102, exited(9), at(60), {}, std::nullopt);
  tree.on_exit(2005, exited(0), at(61), {}, std::nullopt);
  tree.on_exit(2100, killed(SIGKILL), at(62), {}, std::nullopt);
  tree.on_exit(2101, exited(1), at(63), {}, std::nullopt);

  const auto snap = tree.snapshot();
  CHECK(pids_of(snap) == std::vector<pid_t>{2102, 2100, 2101, 2009, 2007, 2001, 2003});
  REQUIRE(snap.size() == 7);
  for (std::size_t i = 0; i < 3; ++i) CHECK(snap[i].ended_at.has_value());
  for (std::size_t i = 3; i < snap.size(); ++i) {
    CAPTURE(i);
    CHECK_FALSE(snap[i].ended_at.has_value());
  }
}

TEST_CASE("root_cause (a): top exited 143, its child killed by SIGTERM from another process") {
  const Sender bash = process_sender(3000, "bash");
  ProcessTree tree(kTop);
  tree.set_top_argv({"run.sh"});
  tree.on_start(2001, kTop, at(1));
  tree.on_exec(2001, {"sleep", "300"}, "/usr/bin/sleep");
  tree.on_exit(2001, killed(SIGTERM), at(50), {sent(2001, SIGTERM, bash, at(49, 990))}, std::nullopt);

  const Outcome top = exited(143);
  const Cause tc = top_cause(top, {}, at(50, 10));
  REQUIRE(tc.category == CauseCategory::Exit);
  const auto root = tree.root_cause(top, tc);
  REQUIRE(root.has_value());
  CHECK(root->pid == 2001);
  CHECK(root->chain == std::vector<pid_t>{2001});
  CHECK(root->argv == Argv{"sleep", "300"});
  CHECK(root->cause.category == CauseCategory::Signal);
  REQUIRE(root->cause.sender.has_value());
  CHECK(root->cause.sender->pid == std::optional<pid_t>(3000));
  CAPTURE(root->summary);
  CHECK(contains(root->summary, "run.sh exited with code 143"));
  CHECK(contains(root->summary, "because its child `sleep 300` (pid 2001)"));
  CHECK(contains(root->summary, "SIGTERM from bash (pid 3000"));
  CHECK_FALSE(contains(root->summary, "grandchild"));
}

TEST_CASE("root_cause (b): top 137 <- sh 137 <- sleep killed by SIGKILL: a grandchild") {
  ProcessTree tree(kTop);
  tree.set_top_argv({"make", "test"});
  tree.on_start(2001, kTop, at(1));
  tree.on_exec(2001, {"sh", "-c", "sleep 300"}, "/bin/sh");
  tree.on_start(2002, 2001, at(2));
  tree.on_exec(2002, {"sleep", "300"}, "/usr/bin/sleep");
  tree.on_exit(2002, killed(SIGKILL), at(40), {}, std::nullopt);
  tree.on_exit(2001, exited(137), at(40, 5), {}, std::nullopt);

  const Outcome top = exited(137);
  const auto root = tree.root_cause(top, top_cause(top, {}, at(40, 10)));
  REQUIRE(root.has_value());
  CHECK(root->chain == std::vector<pid_t>{2001, 2002});
  CHECK(root->pid == 2002);
  CHECK(root->argv == Argv{"sleep", "300"});
  CHECK(root->cause.category == CauseCategory::Signal);
  CHECK(root->cause.signal == std::optional<int>(SIGKILL));
  CAPTURE(root->summary);
  CHECK(contains(root->summary, "make exited with code 137 because its grandchild `sleep 300` (pid 2002)"));
  CHECK(contains(root->summary, "SIGKILL"));
}

TEST_CASE("root_cause (c): top 124 <- timeout 124 <- sleep killed by SIGTERM") {
  const Sender timeout = process_sender(2001, "timeout");
  ProcessTree tree(kTop);
  tree.set_top_argv({"ci-job"});
  tree.on_start(2001, kTop, at(1));
  tree.on_exec(2001, {"timeout", "10", "sleep", "300"}, "/usr/bin/timeout");
  tree.on_start(2002, 2001, at(2));
  tree.on_exec(2002, {"sleep", "300"}, "/usr/bin/sleep");
  // Under timeout, an earlier plain non-zero exit: the signal death, last, is preferred to it.
  tree.on_start(2003, 2001, at(3));
  tree.on_exec(2003, {"false"}, "/usr/bin/false");
  // Under the top, a child killed by a signal that does not match 124, dying later than
  // timeout: the same exit code is preferred to it.
  tree.on_start(2004, kTop, at(4));
  tree.on_exec(2004, {"logger"}, "/usr/bin/logger");

  tree.on_exit(2003, exited(1), at(10, 500), {}, std::nullopt);
  tree.on_exit(2002, killed(SIGTERM), at(11), {sent(2002, SIGTERM, timeout, at(10, 999))}, std::nullopt);
  tree.on_exit(2001, exited(124), at(12), {}, std::nullopt);
  tree.on_exit(2004, killed(SIGUSR2), at(13), {}, std::nullopt);

  const Outcome top = exited(124);
  const auto root = tree.root_cause(top, top_cause(top, {}, at(14)));
  REQUIRE(root.has_value());
  CHECK(root->chain == std::vector<pid_t>{2001, 2002});
  CHECK(root->pid == 2002);
  CHECK(root->argv == Argv{"sleep", "300"});
  REQUIRE(root->cause.sender.has_value());
  CHECK(root->cause.sender->pid == std::optional<pid_t>(2001));
  CAPTURE(root->summary);
  CHECK(contains(root->summary, "grandchild"));
  CHECK(contains(root->summary, "SIGTERM from timeout (pid 2001"));
}

TEST_CASE("root_cause (d): a top that exited 0 has none") {
  ProcessTree tree(kTop);
  tree.on_start(2001, kTop, at(1));
  tree.on_exit(2001, killed(SIGKILL), at(5), {}, std::nullopt);
  tree.on_start(2002, kTop, at(1));
  tree.on_exit(2002, exited(1), at(6), {}, std::nullopt);
  REQUIRE(tree.snapshot().size() == 2);
  const Outcome top = exited(0);
  CHECK_FALSE(tree.root_cause(top, top_cause(top)).has_value());
}

TEST_CASE("root_cause (e): a top killed by a signal with a known sender explains itself") {
  const Sender bash = process_sender(3000, "bash");
  ProcessTree tree(kTop);
  tree.on_start(2001, kTop, at(1));
  tree.on_exit(2001, killed(SIGTERM), at(5), {sent(2001, SIGTERM, bash, at(4))}, std::nullopt);

  const Outcome top = killed(SIGTERM);
  const Cause known = top_cause(top, {sent(kTop, SIGTERM, bash, at(5))}, at(5, 10));
  REQUIRE(known.category == CauseCategory::Signal);
  REQUIRE(known.sender.has_value());
  CHECK_FALSE(tree.root_cause(top, known).has_value());

  // Built directly: a sender is named even though the confidence is unknown.
  Cause named = known;
  named.confidence = Confidence::Unknown;
  CHECK_FALSE(tree.root_cause(top, named).has_value());

  // The same death with no record of who sent it: the child's matching death explains it.
  const Cause unknown = top_cause(top, {}, at(5, 10));
  REQUIRE(unknown.category == CauseCategory::Signal);
  REQUIRE_FALSE(unknown.sender.has_value());
  const auto root = tree.root_cause(top, unknown);
  REQUIRE(root.has_value());
  CHECK(root->chain == std::vector<pid_t>{2001});
}

TEST_CASE("root_cause (f): a child that died after its parent ended does not explain it") {
  // top exited 1 <- mid exited 1 at t=10; under mid: `early` exited 3 at t=9.5 and `late`
  // was killed by SIGKILL at t=20, after mid's end. Were `late` considered, its death by a
  // signal would be preferred to `early`'s plain exit.
  ProcessTree tree(kTop);
  tree.set_top_argv({"top"});
  tree.on_start(2001, kTop, at(1));
  tree.on_exec(2001, {"mid"}, std::nullopt);
  tree.on_start(2002, 2001, at(2));
  tree.on_exec(2002, {"early"}, std::nullopt);
  tree.on_start(2003, 2001, at(3));
  tree.on_exec(2003, {"late"}, std::nullopt);
  tree.on_exit(2002, exited(3), at(9, 500), {}, std::nullopt);
  tree.on_exit(2001, exited(1), at(10), {}, std::nullopt);
  tree.on_exit(2003, killed(SIGKILL), at(20), {}, std::nullopt);

  const Outcome top = exited(1);
  const auto root = tree.root_cause(top, top_cause(top, {}, at(21)));
  REQUIRE(root.has_value());
  CHECK(root->chain == std::vector<pid_t>{2001, 2002});
  CHECK(root->pid == 2002);
  CHECK(root->argv == Argv{"early"});
}

TEST_CASE("root_cause (f'): with only a later-dying grandchild, the chain ends at the middle") {
  ProcessTree tree(kTop);
  tree.set_top_argv({"top"});
  tree.on_start(2001, kTop, at(1));
  tree.on_exec(2001, {"mid"}, std::nullopt);
  tree.on_start(2003, 2001, at(3));
  tree.on_exec(2003, {"late"}, std::nullopt);
  tree.on_exit(2001, exited(1), at(10), {}, std::nullopt);
  tree.on_exit(2003, killed(SIGKILL), at(20), {}, std::nullopt);

  const Outcome top = exited(1);
  const auto root = tree.root_cause(top, top_cause(top, {}, at(21)));
  REQUIRE(root.has_value());
  CHECK(root->chain == std::vector<pid_t>{2001});
  CHECK(root->pid == 2001);
  CHECK(root->argv == Argv{"mid"});
  CHECK(root->cause.category == CauseCategory::Exit);
  CAPTURE(root->summary);
  CHECK(contains(root->summary, "because its child `mid` (pid 2001) exited with code 1"));
}

TEST_CASE("root_cause (g): killed by S for a parent's 128+S beats a later plain non-zero exit") {
  ProcessTree tree(kTop);
  tree.set_top_argv({"top"});
  tree.on_start(2001, kTop, at(1));
  tree.on_exec(2001, {"killed-by-int"}, std::nullopt);
  tree.on_start(2002, kTop, at(1));
  tree.on_exec(2002, {"plain-exit"}, std::nullopt);
  tree.on_start(2003, kTop, at(1));
  tree.on_exec(2003, {"killed-by-kill"}, std::nullopt);
  tree.on_exit(2001, killed(SIGINT), at(5), {}, std::nullopt);
  tree.on_exit(2002, exited(130), at(6), {}, std::nullopt);   // same exit code, later
  tree.on_exit(2003, killed(SIGKILL), at(7), {}, std::nullopt);  // another signal, later

  const Outcome top = exited(128 + SIGINT);
  const auto root = tree.root_cause(top, top_cause(top, {}, at(8)));
  REQUIRE(root.has_value());
  CHECK(root->chain == std::vector<pid_t>{2001});
  CHECK(root->argv == Argv{"killed-by-int"});
}

TEST_CASE("root_cause: a plain non-zero exit is the last resort, and only when it came last") {
  ProcessTree tree(kTop);
  tree.set_top_argv({"top"});
  tree.on_start(2001, kTop, at(1));
  tree.on_start(2002, kTop, at(1));
  tree.on_start(2003, kTop, at(1));
  tree.on_exit(2001, exited(2), at(5), {}, std::nullopt);
  tree.on_exit(2002, exited(3), at(6), {}, std::nullopt);

  // Top exited 1: no killed child, no same code: the latest abnormal exit, the last child
  // to end, just before the top.
  const Outcome top = exited(1);
  auto root = tree.root_cause(top, top_cause(top, {}, at(7)), at(7));
  REQUIRE(root.has_value());
  CHECK(root->chain == std::vector<pid_t>{2002});

  // After a normal exit of another child, the earlier failure explains nothing (`grep`
  // failing, then `sleep 1; exit 3`).
  tree.on_exit(2003, exited(0), at(7), {}, std::nullopt);
  CHECK_FALSE(tree.root_cause(top, top_cause(top, {}, at(8)), at(8)).has_value());

  // Top exited 2: the same exit code wins over the later exit 3.
  const Outcome top2 = exited(2);
  root = tree.root_cause(top2, top_cause(top2, {}, at(8)));
  REQUIRE(root.has_value());
  CHECK(root->chain == std::vector<pid_t>{2001});
}

TEST_CASE("root_cause: among children killed by a non-matching signal, the latest wins") {
  ProcessTree tree(kTop);
  tree.set_top_argv({"top"});
  tree.on_start(2001, kTop, at(1));
  tree.on_start(2002, kTop, at(1));
  tree.on_exit(2001, killed(SIGKILL), at(5), {}, std::nullopt);
  tree.on_exit(2002, killed(SIGSEGV), at(6), {}, std::nullopt);
  const Outcome top = exited(1);
  const auto root = tree.root_cause(top, top_cause(top, {}, at(8)));
  REQUIRE(root.has_value());
  CHECK(root->chain == std::vector<pid_t>{2002});
}

TEST_CASE("root_cause: a top killed by a signal from outside the pid namespace explains itself") {
  // A record naming no sender pid: "from a process outside deathwatch's pid namespace",
  // likely, no sender. Still a signal aimed at the top.
  ProcessTree tree(kTop);
  tree.on_start(2001, kTop, at(1));
  tree.on_exit(2001, killed(SIGTERM), at(5), {}, std::nullopt);
  SignalRecord r;
  r.time = r.last_time = at(5);
  r.pid = r.tid = kTop;
  r.signo = SIGTERM;
  r.code = SI_USER;
  r.origin = classify_origin(SIGTERM, SI_USER);
  const Outcome top = killed(SIGTERM);
  const Cause c = top_cause(top, {r}, at(5, 10));
  REQUIRE(c.category == CauseCategory::Signal);
  REQUIRE_FALSE(c.sender.has_value());
  REQUIRE(c.confidence == Confidence::Likely);
  CHECK_FALSE(tree.root_cause(top, c).has_value());
}

TEST_CASE("root_cause: the chain ends at a process that died of a signal itself") {
  const Sender bash = process_sender(3000, "bash");
  ProcessTree tree(kTop);
  tree.set_top_argv({"top"});

  SUBCASE("killed by a signal") {
    // top exited 143 <- worker killed by SIGTERM from bash; the worker's own child had
    // exited 1 before: not followed.
    tree.on_start(2001, kTop, at(1));
    tree.on_start(2002, 2001, at(2));
    tree.on_exit(2002, exited(1), at(3), {}, std::nullopt);
    tree.on_exit(2001, killed(SIGTERM), at(5), {sent(2001, SIGTERM, bash, at(4))}, std::nullopt);
    const Outcome top = exited(143);
    const auto root = tree.root_cause(top, top_cause(top, {}, at(6)));
    REQUIRE(root.has_value());
    CHECK(root->chain == std::vector<pid_t>{2001});
  }
  SUBCASE("exited after handling a signal from another process") {
    // top exited 143 <- mid exited 143 after handling SIGTERM from bash; mid's child was
    // killed by SIGTERM (with no known sender) before: mid explains itself.
    tree.on_start(2001, kTop, at(1));
    tree.on_start(2002, 2001, at(2));
    tree.on_exit(2002, killed(SIGTERM), at(3), {}, std::nullopt);
    tree.on_exit(2001, exited(143), at(5), {sent(2001, SIGTERM, bash, at(4))}, std::nullopt);
    const Outcome top = exited(143);
    const auto root = tree.root_cause(top, top_cause(top, {}, at(6)));
    REQUIRE(root.has_value());
    CHECK(root->chain == std::vector<pid_t>{2001});
    CHECK(root->cause.category == CauseCategory::Signal);
    CAPTURE(root->summary);
    CHECK(contains(root->summary, "exited with code 143 (exited with code 143 (128+15) after handling SIGTERM from bash"));
  }
}

TEST_CASE("root_cause: none without abnormal children, none for a grandchild alone") {
  ProcessTree tree(kTop);
  const Outcome top = exited(1);
  CHECK_FALSE(tree.root_cause(top, top_cause(top)).has_value());

  // A dead grandchild whose parent is alive is not the top's child.
  tree.on_start(2001, kTop, at(1));
  tree.on_start(2002, 2001, at(2));
  tree.on_exit(2002, killed(SIGKILL), at(3), {}, std::nullopt);
  CHECK_FALSE(tree.root_cause(top, top_cause(top)).has_value());

  Outcome alive;
  alive.kind = OutcomeKind::Alive;
  CHECK_FALSE(tree.root_cause(alive, top_cause(alive)).has_value());
}

TEST_CASE("describe_descendant_death") {
  Descendant d;
  d.pid = 4242;
  d.ppid = kTop;
  d.argv = {"sleep", "300"};

  SUBCASE("killed, with a sender") {
    d.outcome = killed(SIGTERM);
    d.cause.category = CauseCategory::Signal;
    d.cause.summary = "SIGTERM from timeout (pid 4200, uid 1000)";
    CHECK(describe_descendant_death(d) ==
          "`sleep 300` (pid 4242) was killed: SIGTERM from timeout (pid 4200, uid 1000)");
  }
  SUBCASE("killed, the cause's summary already says killed") {
    d.outcome = killed(SIGKILL);
    d.cause = decide_cause(d.outcome, d.pid, {}, at(5));
    REQUIRE(d.cause.summary == "killed by SIGKILL from an unknown sender");
    CHECK(describe_descendant_death(d) ==
          "`sleep 300` (pid 4242) was killed by SIGKILL from an unknown sender");
  }
  SUBCASE("non-zero exit by itself") {
    d.outcome = exited(3);
    d.cause = decide_cause(d.outcome, d.pid, {}, at(5));
    CHECK(describe_descendant_death(d) == "`sleep 300` (pid 4242) exited with code 3");
  }
  SUBCASE("exit after handling a signal: the cause is added") {
    d.outcome = exited(0);
    d.cause.category = CauseCategory::Signal;
    d.cause.summary = "exited with code 0 12 ms after handling SIGTERM from bash (pid 3000)";
    CHECK(describe_descendant_death(d) ==
          "`sleep 300` (pid 4242) exited with code 0 (exited with code 0 12 ms after handling "
          "SIGTERM from bash (pid 3000))");
  }
  SUBCASE("no argv known") {
    d.argv.clear();
    d.outcome = exited(1);
    d.cause.category = CauseCategory::Exit;
    CHECK(describe_descendant_death(d) == "`` (pid 4242) exited with code 1");
  }
}

TEST_CASE("root_cause: a failure long before the parent's end explains nothing") {
  ProcessTree tree(kTop);
  tree.set_top_argv({"top"});
  tree.on_start(2001, kTop, at(1));
  tree.on_start(2002, 2001, at(1));
  tree.on_exit(2002, killed(SIGSEGV), at(2), {}, std::nullopt);   // mid lives on 8 s
  tree.on_exit(2001, exited(1), at(10), {}, std::nullopt);
  const Outcome top = exited(2);  // not mid's code: mid explains it only by timing
  // mid is the last child of the top, just before its end: it explains the top ...
  const auto root = tree.root_cause(top, top_cause(top, {}, at(10, 100)), at(10, 100));
  REQUIRE(root.has_value());
  // ... but the crash 8 s before mid's own end does not explain mid's exit 1.
  CHECK(root->chain == std::vector<pid_t>{2001});
  // Too long before the top's end: nothing at all.
  CHECK_FALSE(tree.root_cause(top, top_cause(top, {}, at(15)), at(15)).has_value());
  // A matching status needs no window: 128+SIGSEGV.
  const Outcome top139 = exited(128 + SIGSEGV);
  ProcessTree tree2(kTop);
  tree2.on_start(2001, kTop, at(1));
  tree2.on_exit(2001, killed(SIGSEGV), at(2), {}, std::nullopt);
  const auto matched = tree2.root_cause(top139, top_cause(top139, {}, at(15)), at(15));
  REQUIRE(matched.has_value());
  CHECK(matched->chain == std::vector<pid_t>{2001});
}
