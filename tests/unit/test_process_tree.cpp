// The watched process's descendants (src/process_tree.cpp): argv bookkeeping, which deaths are
// kept, the list's bound, counts and snapshot order (the root cause: test_root_cause.cpp).
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

namespace {

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

TEST_CASE("on_exit: an end that was not seen is listed, never counted as a normal exit") {
  ProcessTree tree(kTop);
  tree.on_start(2001, kTop, at(1));
  // What the supervisor records for a descendant found gone without its end reported.
  CHECK(tree.on_exit(2001, Outcome{}, at(5), {}, std::nullopt));
  CHECK(tree.counts().exited_normally == 0);
  const auto snap = tree.snapshot();
  REQUIRE(snap.size() == 1);
  CHECK(snap[0].outcome.kind == OutcomeKind::Unknown);
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
