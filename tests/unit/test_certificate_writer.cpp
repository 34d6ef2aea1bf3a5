// The writer's pure logic (src/certificate_writer.cpp): the rewrite pacer, the event log's
// bound, and the event line's repeat number.
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "builders.h"
#include "deathwatch/certificate.h"
#include "deathwatch/certificate_writer.h"

using namespace deathwatch;
using nlohmann::json;
using std::chrono::milliseconds;

namespace {

SignalRecord signal_from(pid_t receiver, int signo, int code, std::optional<pid_t> sender) {
  SignalRecord r;
  r.pid = r.tid = receiver;
  r.signo = signo;
  r.code = code;
  if (sender) r.sender = testing::process_sender(*sender, "kill");
  return r;
}

}  // namespace

TEST_CASE("event_line keeps a comm's bytes and writes a repeat number above 1") {
  SignalRecord r = signal_from(10, SIGUSR1, SI_USER, 20);
  r.sender->comm = std::string("k\xff");
  const std::string once = event_line(r);
  CHECK(json::parse(once)["sender_comm"] == "k\\xff");
  CHECK(once.find("repeat") == std::string::npos);
  CHECK(event_line(r, 32).find(",\"repeat\":32}") != std::string::npos);
}

TEST_CASE("RewritePacer: the first news at once, then paced by the last rewrite's cost") {
  using Clock = RewritePacer::Clock;
  RewritePacer pacer(milliseconds(100));
  const Clock::time_point t0 = Clock::now();
  CHECK(pacer.due(true) <= t0);
  CHECK(pacer.due(false) <= t0);
  // A cheap rewrite: news after a tenth of the period, other changes after the period.
  pacer.wrote(t0, t0 + milliseconds(1));
  CHECK(pacer.due(true) == t0 + milliseconds(1) + milliseconds(10));
  CHECK(pacer.due(false) == t0 + milliseconds(1) + milliseconds(100));
  // An expensive one (a 1 MB certificate): both wait ten times its cost.
  pacer.wrote(t0, t0 + milliseconds(30));
  CHECK(pacer.due(true) == t0 + milliseconds(30) + milliseconds(300));
  CHECK(pacer.due(false) == t0 + milliseconds(30) + milliseconds(300));
  // A stalled disk: the next rewrite is still tried within kMaxWait.
  pacer.wrote(t0, t0 + std::chrono::seconds(2));
  CHECK(pacer.due(true) == t0 + std::chrono::seconds(2) + RewritePacer::kMaxWait);
}

TEST_CASE("RewritePacer: rewrites take at most a bounded share of the time") {
  using Clock = RewritePacer::Clock;
  RewritePacer pacer(milliseconds(100));
  // A new sender every millisecond for 10 s; a rewrite costs 10 us per 1000 records seen.
  Clock::time_point now{};
  Clock::duration spent{};
  int records = 0;
  for (int ms = 0; ms < 10000; ++ms) {
    now = Clock::time_point{} + milliseconds(ms);
    ++records;
    if (pacer.due(true) <= now) {
      const auto cost = std::chrono::microseconds(10 * std::min(records, 1000) + 50);
      pacer.wrote(now, now + cost);
      spent += cost;
    }
  }
  CHECK(spent < milliseconds(10000) / (RewritePacer::kCostFactor + 1) + milliseconds(10));
}

TEST_CASE("EventLogBudget: every sender of a potentially fatal signal, repeats thinned") {
  EventLogBudget budget;
  // 50 distinct senders of SIGTERM: each logged with its first signal.
  for (pid_t sender = 100; sender < 150; ++sender)
    CHECK(budget.admit(signal_from(10, SIGTERM, SI_USER, sender), true) == std::optional<std::uint64_t>(1));
  // One sender repeating: 1..10, then 16, 32, 64, ...
  std::vector<std::uint64_t> logged;
  for (int i = 0; i < 1000; ++i)
    if (auto n = budget.admit(signal_from(10, SIGUSR1, SI_USER, 7), true)) logged.push_back(*n);
  CHECK(logged == std::vector<std::uint64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 16, 32, 64, 128, 256, 512});
}

TEST_CASE("EventLogBudget: signals that cannot kill are bounded whatever their senders") {
  EventLogBudget budget;
  int logged = 0;
  // SIGCHLD from 10,000 different children; self-sent SIGUSR1; never per sender.
  for (pid_t child = 1000; child < 11000; ++child)
    if (budget.admit(signal_from(10, SIGCHLD, CLD_EXITED, child), false)) ++logged;
  CHECK(logged == 10 + 10);  // 1..10, then 16, 32, ..., 8192
  // The same signal from another process that could kill it: every new sender is logged.
  int usr1 = 0;
  for (pid_t sender = 1000; sender < 3000; ++sender)
    if (budget.admit(signal_from(10, SIGUSR1, SI_USER, sender), true)) ++usr1;
  CHECK(usr1 == 2000);
  // Self-sent (not from another process): bounded like SIGCHLD.
  int self = 0;
  for (int i = 0; i < 20000; ++i)
    if (budget.admit(signal_from(10, SIGUSR1, SI_USER, 10), false)) ++self;
  CHECK(self == 10 + 11);  // 1..10, then 16, ..., 16384
}
