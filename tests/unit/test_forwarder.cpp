#include <doctest/doctest.h>

#include <signal.h>

#include <algorithm>
#include <vector>

#include "deathwatch/forwarder.h"

using namespace deathwatch;
using Clock = SignalForwarder::Clock;

namespace {

struct FakeTarget {
  std::vector<int> sent;
  std::vector<int> pending;
  SignalForwarder::SendFn send() {
    return [this](int signo) {
      sent.push_back(signo);
      return true;
    };
  }
  SignalForwarder::PendingFn has_pending() {
    return [this](int signo) { return std::find(pending.begin(), pending.end(), signo) != pending.end(); };
  }
};

Sender sender_with_pid(pid_t pid) {
  Sender s;
  s.pid = pid;
  return s;
}

}  // namespace

TEST_CASE("a forward waits kForwardDelay, then is sent once and can be claimed once") {
  SignalForwarder f;
  FakeTarget target;
  const auto t0 = Clock::now();
  f.request(SIGTERM, 42, sender_with_pid(42), t0);
  REQUIRE(f.next_due());
  CHECK(*f.next_due() == t0 + kForwardDelay);

  int reported = 0;
  auto on_sent = [&](int signo, const Sender& from) {
    CHECK(signo == SIGTERM);
    CHECK(from.pid == 42);
    ++reported;
  };
  f.send_due(t0 + kForwardDelay - std::chrono::milliseconds(1), target.send(), target.has_pending(), on_sent);
  CHECK(target.sent.empty());
  f.send_due(t0 + kForwardDelay, target.send(), target.has_pending(), on_sent);
  CHECK(target.sent == std::vector<int>{SIGTERM});
  CHECK(reported == 1);
  CHECK_FALSE(f.next_due());
  f.send_due(t0 + kForwardDelay * 3, target.send(), target.has_pending(), on_sent);
  CHECK(target.sent.size() == 1);

  auto claimed = f.claim(SIGTERM);
  REQUIRE(claimed);
  CHECK(claimed->pid == 42);
  CHECK_FALSE(f.claim(SIGTERM));
}

TEST_CASE("the target's own copy from the same sender cancels the forward; another sender's does not") {
  SignalForwarder f;
  FakeTarget target;
  const auto t0 = Clock::now();
  f.request(SIGTERM, 42, sender_with_pid(42), t0);
  f.request(SIGHUP, 43, sender_with_pid(43), t0);
  f.target_received(SIGTERM, 99, t0);  // someone else's SIGTERM
  f.target_received(SIGHUP, 43, t0);   // the group-wide SIGHUP reached the target itself
  f.send_due(t0 + kForwardDelay, target.send(), target.has_pending(), [](int, const Sender&) {});
  CHECK(target.sent == std::vector<int>{SIGTERM});
}

TEST_CASE("a signal already pending in the target is not forwarded again") {
  SignalForwarder f;
  FakeTarget target;
  target.pending = {SIGUSR1};
  const auto t0 = Clock::now();
  f.request(SIGUSR1, 42, sender_with_pid(42), t0);
  f.send_due(t0 + kForwardDelay, target.send(), target.has_pending(), [](int, const Sender&) {});
  CHECK(target.sent.empty());
  CHECK_FALSE(f.claim(SIGUSR1));
}

TEST_CASE("an unclaimed forward is forgotten after kForwardMemory; clear() drops everything") {
  SignalForwarder f;
  FakeTarget target;
  const auto t0 = Clock::now();
  f.request(SIGUSR2, 42, sender_with_pid(42), t0);
  f.send_due(t0 + kForwardDelay, target.send(), target.has_pending(), [](int, const Sender&) {});
  f.send_due(t0 + kForwardDelay + kForwardMemory + std::chrono::seconds(1), target.send(),
             target.has_pending(), [](int, const Sender&) {});
  CHECK_FALSE(f.claim(SIGUSR2));

  f.request(SIGTERM, 7, sender_with_pid(7), t0);
  f.clear();
  CHECK_FALSE(f.next_due());
  f.send_due(t0 + kForwardDelay, target.send(), target.has_pending(), [](int, const Sender&) {});
  CHECK(target.sent.size() == 1);  // only the SIGUSR2 from before
}

TEST_CASE("the target's own copy seen before deathwatch's cancels the forward, within kOwnCopyWindow") {
  SignalForwarder f;
  FakeTarget target;
  const auto t0 = Clock::now();
  auto nothing = [](int, const Sender&) {};
  // kill(0, SIGURG) by the target: its signal stop was reaped before deathwatch read its copy.
  f.target_received(SIGURG, 42, t0);
  f.request(SIGURG, 42, sender_with_pid(42), t0 + std::chrono::milliseconds(5));
  CHECK_FALSE(f.next_due());
  f.send_due(t0 + kForwardDelay * 2, target.send(), target.has_pending(), nothing);
  CHECK(target.sent.empty());

  // The own copy is used once: a second request from the same sender is forwarded.
  f.request(SIGURG, 42, sender_with_pid(42), t0 + std::chrono::milliseconds(10));
  f.send_due(t0 + kForwardDelay * 2, target.send(), target.has_pending(), nothing);
  CHECK(target.sent == std::vector<int>{SIGURG});

  // Another sender's copy, or one older than the window, cancels nothing.
  const auto t1 = t0 + std::chrono::seconds(10);
  f.target_received(SIGHUP, 7, t1);
  f.target_received(SIGINT, 8, t1);
  f.request(SIGHUP, 9, sender_with_pid(9), t1);
  f.request(SIGINT, 8, sender_with_pid(8), t1 + kOwnCopyWindow + std::chrono::milliseconds(1));
  f.send_due(t1 + kOwnCopyWindow + kForwardDelay * 2, target.send(), target.has_pending(), nothing);
  CHECK(target.sent == std::vector<int>{SIGURG, SIGHUP, SIGINT});
}

TEST_CASE("a self-signalling storm keeps one own copy per signal and sender") {
  SignalForwarder f;
  FakeTarget target;
  const auto t0 = Clock::now();
  for (int i = 0; i < 100000; ++i) f.target_received(SIGUSR1, 42, t0 + std::chrono::microseconds(i));
  // One request is cancelled by the storm's latest copy; the next one is forwarded.
  f.request(SIGUSR1, 42, sender_with_pid(42), t0 + std::chrono::milliseconds(200));
  f.request(SIGUSR1, 42, sender_with_pid(42), t0 + std::chrono::milliseconds(200));
  f.send_due(t0 + std::chrono::seconds(1), target.send(), target.has_pending(), [](int, const Sender&) {});
  CHECK(target.sent == std::vector<int>{SIGUSR1});
}
