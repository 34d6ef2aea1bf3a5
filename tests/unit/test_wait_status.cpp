// Wait-status decoding (src/wait_status.cpp). Statuses are built with the kernel's layout:
//   exited:   code << 8
//   killed:   signo | 0x80 if a core was dumped
//   stopped:  (signo | event << 8) << 8 | 0x7f
//   continued: 0xffff
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "deathwatch/wait_status.h"

using namespace deathwatch;
using Kind = WaitStatus::Kind;

namespace {

constexpr int exited(int code) { return (code & 0xff) << 8; }
constexpr int killed(int signo, bool core = false) { return signo | (core ? 0x80 : 0); }
constexpr int stopped(int signo, int event = 0) { return ((signo | (event << 8)) << 8) | 0x7f; }
constexpr int kContinued = 0xffff;

}  // namespace

TEST_CASE("the status builders agree with the C library's W* macros") {
  // If these fail, the tests below test the wrong thing.
  CHECK(WIFEXITED(exited(3)));
  CHECK(WEXITSTATUS(exited(3)) == 3);
  CHECK(WIFSIGNALED(killed(SIGSEGV, true)));
  CHECK(WTERMSIG(killed(SIGSEGV, true)) == SIGSEGV);
  CHECK(WCOREDUMP(killed(SIGSEGV, true)));
  CHECK(WIFSTOPPED(stopped(SIGSTOP, PTRACE_EVENT_STOP)));
  CHECK(WSTOPSIG(stopped(SIGSTOP, PTRACE_EVENT_STOP)) == SIGSTOP);
  CHECK(WIFCONTINUED(kContinued));
}

TEST_CASE("exits") {
  for (bool traced : {false, true}) {
    CAPTURE(traced);
    auto ws = WaitStatus::decode(exited(3), traced);
    CHECK(ws.kind == Kind::Exited);
    CHECK(ws.value == 3);
    CHECK_FALSE(ws.core_dumped);
    CHECK(ws.describe() == "exited 3");

    ws = WaitStatus::decode(exited(0), traced);
    CHECK(ws.kind == Kind::Exited);
    CHECK(ws.value == 0);

    ws = WaitStatus::decode(exited(255), traced);
    CHECK(ws.kind == Kind::Exited);
    CHECK(ws.value == 255);
  }
}

TEST_CASE("killed by a signal, with and without a core dump") {
  for (bool traced : {false, true}) {
    CAPTURE(traced);
    auto ws = WaitStatus::decode(killed(SIGSEGV, true), traced);
    CHECK(ws.kind == Kind::Killed);
    CHECK(ws.value == SIGSEGV);
    CHECK(ws.core_dumped);
    CHECK(ws.describe() == "killed by SIGSEGV (core)");

    ws = WaitStatus::decode(killed(SIGKILL), traced);
    CHECK(ws.kind == Kind::Killed);
    CHECK(ws.value == SIGKILL);
    CHECK_FALSE(ws.core_dumped);
    CHECK(ws.describe() == "killed by SIGKILL");

    ws = WaitStatus::decode(killed(SIGTERM), traced);
    CHECK(ws.kind == Kind::Killed);
    CHECK(ws.value == SIGTERM);
  }
}

TEST_CASE("continued") {
  auto ws = WaitStatus::decode(kContinued, false);
  CHECK(ws.kind == Kind::Continued);
  CHECK(ws.describe() == "continued");
}

TEST_CASE("untraced stops are plain job-control stops") {
  auto ws = WaitStatus::decode(stopped(SIGTSTP), false);
  CHECK(ws.kind == Kind::PlainStop);
  CHECK(ws.value == SIGTSTP);
  CHECK(ws.describe() == "stopped by SIGTSTP");

  ws = WaitStatus::decode(stopped(SIGSTOP), false);
  CHECK(ws.kind == Kind::PlainStop);
  CHECK(ws.value == SIGSTOP);
}

TEST_CASE("traced: signal-delivery-stop") {
  auto ws = WaitStatus::decode(stopped(SIGTERM), true);
  CHECK(ws.kind == Kind::SignalDelivery);
  CHECK(ws.value == SIGTERM);
  CHECK(ws.describe() == "signal-delivery-stop SIGTERM");

  // A stop signal without PTRACE_EVENT_STOP is its signal-delivery-stop, not the group-stop.
  ws = WaitStatus::decode(stopped(SIGSTOP), true);
  CHECK(ws.kind == Kind::SignalDelivery);
  CHECK(ws.value == SIGSTOP);

  ws = WaitStatus::decode(stopped(SIGSEGV), true);
  CHECK(ws.kind == Kind::SignalDelivery);
  CHECK(ws.value == SIGSEGV);
}

TEST_CASE("traced: PTRACE_EVENT_STOP is a group-stop for stop signals, else an event-stop") {
  for (int signo : {SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU}) {
    CAPTURE(signo);
    auto ws = WaitStatus::decode(stopped(signo, PTRACE_EVENT_STOP), true);
    CHECK(ws.kind == Kind::GroupStop);
    CHECK(ws.value == signo);
  }
  CHECK(WaitStatus::decode(stopped(SIGSTOP, PTRACE_EVENT_STOP), true).describe() ==
        "group-stop SIGSTOP");

  auto ws = WaitStatus::decode(stopped(SIGTRAP, PTRACE_EVENT_STOP), true);
  CHECK(ws.kind == Kind::EventStop);
  CHECK(ws.value == SIGTRAP);
  CHECK(ws.describe() == "event-stop");
}

TEST_CASE("traced: ptrace events") {
  struct Case {
    int event;
    Kind kind;
    bool vfork;
    const char* text;
  };
  const Case cases[] = {
      {PTRACE_EVENT_CLONE, Kind::CloneEvent, false, "clone-event"},
      {PTRACE_EVENT_FORK, Kind::ForkEvent, false, "fork-event"},
      {PTRACE_EVENT_VFORK, Kind::ForkEvent, true, "vfork-event"},
      {PTRACE_EVENT_VFORK_DONE, Kind::VforkDoneEvent, false, "vfork-done-event"},
      {PTRACE_EVENT_EXEC, Kind::ExecEvent, false, "exec-event"},
      {PTRACE_EVENT_EXIT, Kind::ExitEvent, false, "exit-event"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.event);
    auto ws = WaitStatus::decode(stopped(SIGTRAP, c.event), true);
    CHECK(ws.kind == c.kind);
    CHECK(ws.value == SIGTRAP);
    CHECK(ws.is_vfork == c.vfork);
    CHECK(ws.describe() == c.text);
  }
}

TEST_CASE("traced: events deathwatch does not ask for are Unknown") {
  auto ws = WaitStatus::decode(stopped(SIGTRAP, PTRACE_EVENT_SECCOMP), true);
  CHECK(ws.kind == Kind::Unknown);
  CHECK(ws.describe() == "unknown");
}

TEST_CASE("untraced: event bits are ignored, a stop is a plain stop") {
  auto ws = WaitStatus::decode(stopped(SIGTRAP, PTRACE_EVENT_EXEC), false);
  CHECK(ws.kind == Kind::PlainStop);
  CHECK(ws.value == SIGTRAP);
}

TEST_CASE("a default WaitStatus is Unknown") {
  WaitStatus ws;
  CHECK(ws.kind == Kind::Unknown);
  CHECK(ws.value == 0);
  CHECK_FALSE(ws.core_dumped);
  CHECK_FALSE(ws.is_vfork);
}
