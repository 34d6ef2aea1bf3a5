// The root cause of the top's death (ProcessTree::root_cause, src/process_tree.cpp): which
// descendant death explains it, and when none can; describe_descendant_death.
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
#include "tree_builders.h"

using namespace deathwatch::testing;

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
