// The pure part of last words: fault meanings and mappings, syscall names, core locations,
// which frame is the process's own, and the cause told with them.
#include <doctest/doctest.h>

#include "deathwatch/death_scenes.h"
#include "deathwatch/last_words_reader.h"

using namespace deathwatch;

namespace {

const std::string kMaps =
    "55d0c0000000-55d0c0001000 r--p 00000000 fe:00 42 /usr/bin/prog\n"
    "55d0c0001000-55d0c0002000 r-xp 00001000 fe:00 42 /usr/bin/prog\n"
    "7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]\n";

StackFrame frame(const char* function, const char* module, std::optional<int> line = std::nullopt) {
  StackFrame f;
  f.address = 0x1000;
  if (function) f.function = function;
  f.module = module;
  if (line) {
    f.file = "/src/prog.c";
    f.line = *line;
  }
  return f;
}

}  // namespace

TEST_CASE("a fault is explained: its meaning and the mapping that holds the address") {
  CHECK(fault_meaning(11, 1) == "address not mapped");
  CHECK(fault_meaning(11, 2) == "invalid permissions for mapped object");
  CHECK(fault_meaning(8, 1) == "integer divide by zero");
  CHECK(fault_meaning(11, 0)->find("not a fault") != std::string::npos);
  CHECK(fault_mapping(kMaps, 0) == "no mapping: NULL page");
  CHECK(fault_mapping(kMaps, 0x10) == "no mapping: NULL page");
  CHECK(fault_mapping(kMaps, 0x7f0000000000) == "no mapping");
  CHECK(fault_mapping(kMaps, 0x55d0c0001010) == "/usr/bin/prog 0x55d0c0001000-0x55d0c0002000 r-xp");
  CHECK(fault_mapping(kMaps, 0x7ffd00000100).rfind("[stack] ", 0) == 0);
}

TEST_CASE("syscalls are named from the kernel headers") {
  CHECK(syscall_name(0) == "read");
  CHECK(syscall_name(230) == "clock_nanosleep");
  CHECK(syscall_name(231) == "exit_group");
  CHECK(syscall_name(99999) == "syscall_99999");
}

TEST_CASE("the core's place: core_pattern expanded in the process's directory, or its pipe") {
  DeathScene scene;
  scene.pid = 4242;
  scene.tid = 4243;
  scene.signo = 11;
  scene.thread_name = "prog";
  scene.cwd = "/srv/app";
  CHECK(core_location("core\n", scene) == "/srv/app/core");
  CHECK(core_location("core.%p.%e.%s%%", scene) == "/srv/app/core.4242.prog.11%");
  CHECK(core_location("/var/crash/%e-%i", scene) == "/var/crash/prog-4243");
  CHECK(core_location("|/usr/lib/systemd/systemd-coredump %P %u", scene).rfind("| systemd-coredump", 0) == 0);
}

TEST_CASE("the process's own frame is the first outside the C library's exit and abort path") {
  std::vector<StackFrame> frames = {frame("_exit", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
                                    frame("exit", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
                                    frame("fail_here", "/usr/bin/prog", 12), frame("main", "/usr/bin/prog", 20)};
  const StackFrame* own = first_own_frame(frames);
  REQUIRE(own);
  CHECK(*own->function == "fail_here");
  CHECK(describe_frame(*own) == "fail_here (prog.c:12)");
  CHECK(describe_frame(frame(nullptr, "/usr/bin/prog")).rfind("prog+0x", 0) == 0);
}

TEST_CASE("the cause is told with the last words") {
  LastWords lw;
  lw.backtrace = {frame("exit", "/usr/lib/x86_64-linux-gnu/libc.so.6"), frame("fail_here", "/usr/bin/prog", 12)};
  Outcome exited{OutcomeKind::Exited, 4, std::nullopt, false};
  Cause cause;
  cause.category = CauseCategory::Exit;
  cause.summary = "exited by itself with code 4";
  tell_cause_with_last_words(cause, exited, lw);
  CHECK(cause.summary == "exited by itself with code 4: exit() called from fail_here (prog.c:12)");

  LastWords java;
  java.java = JavaLastWords{JavaLastWords::Shutdown::ExitCall, "main", {"SelfKill.main(SelfKill.java:5)"},
                            "System.exit(4) called from SelfKill.main(SelfKill.java:5)"};
  Cause jcause;
  jcause.category = CauseCategory::Exit;
  jcause.summary = "exited by itself with code 4";
  tell_cause_with_last_words(jcause, exited, java);
  CHECK(jcause.summary == "System.exit(4) called from SelfKill.main(SelfKill.java:5)");
}

TEST_CASE("a scene is kept by the policy: the initiator's over a stand-in, none for a clean exit") {
  struct FakeReader : LastWordsReader {
    LastWords read(const DeathScene& scene, const Outcome&, bool) override {
      LastWords lw;
      lw.tid = scene.tid;
      return lw;
    }
  } reader;
  DeathScenes scenes;
  scenes.configure(&reader, LastWordsPolicy::Abnormal);
  DeathScene stand_in;
  stand_in.pid = 10;
  stand_in.tid = 10;
  DeathScene initiator = stand_in;
  initiator.tid = 11;
  scenes.add(DeathCaptured{stand_in, false});
  scenes.add(DeathCaptured{initiator, true});
  scenes.add(DeathCaptured{stand_in, false});
  auto lw = scenes.take(10, Outcome{OutcomeKind::Exited, 3, std::nullopt, false}, true);
  REQUIRE(lw);
  CHECK(lw->tid == 11);
  scenes.add(DeathCaptured{initiator, true});
  CHECK_FALSE(scenes.take(10, Outcome{OutcomeKind::Exited, 0, std::nullopt, false}, true));
  // A stand-in from before an exec is forgotten; a newer stand-in replaces an older one.
  scenes.add(DeathCaptured{initiator, false});
  scenes.forget(10);
  CHECK_FALSE(scenes.take(10, Outcome{OutcomeKind::Exited, 3, std::nullopt, false}, true));
  scenes.add(DeathCaptured{stand_in, false});
  scenes.add(DeathCaptured{initiator, false});
  auto newer = scenes.take(10, Outcome{OutcomeKind::Killed, std::nullopt, 9, false}, true);
  REQUIRE(newer);
  CHECK(newer->tid == 11);
}

TEST_CASE("descendants' backtraces are bounded; the watched process always gets its own") {
  struct CountingReader : LastWordsReader {
    int unwound = 0;
    LastWords read(const DeathScene&, const Outcome&, bool unwind) override {
      unwound += unwind ? 1 : 0;
      return LastWords{};
    }
  } reader;
  DeathScenes scenes;
  scenes.configure(&reader, LastWordsPolicy::Abnormal);
  const Outcome failed{OutcomeKind::Exited, 1, std::nullopt, false};
  for (pid_t pid = 100; pid < 100 + static_cast<pid_t>(kDescendantBacktraces) + 8; ++pid) {
    DeathScene scene;
    scene.pid = pid;
    scenes.add(DeathCaptured{scene, true});
    auto lw = scenes.take(pid, failed, false);
    REQUIRE(lw);
    if (pid >= 100 + static_cast<pid_t>(kDescendantBacktraces)) CHECK(lw->note->find("not unwound") != std::string::npos);
  }
  CHECK(reader.unwound == static_cast<int>(kDescendantBacktraces));
  DeathScene top;
  top.pid = 1;
  scenes.add(DeathCaptured{top, true});
  REQUIRE(scenes.take(1, failed, true));
  CHECK(reader.unwound == static_cast<int>(kDescendantBacktraces) + 1);
}
