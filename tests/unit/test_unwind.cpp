// Offline unwinding (src/unwind.cpp). A child forked from this test binary stops itself inside
// a known call chain; the test captures what a backend would (registers, the top of the stack,
// the maps text), kills and reaps the child, and only then unwinds: the frames must name the
// chain from this binary's own debug info although the process is gone.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "deathwatch/unwind.h"

using namespace deathwatch;

// clang has no noipa: noinline plus no optimisation of the function keeps its frame, and no
// sanitizer code around the calls (clang gives that code line 0: no file:line to check).
#if defined(__clang__)
#define DW_NOIPA [[gnu::noinline, clang::optnone, clang::no_sanitize("address", "undefined", "coverage")]]
#else
#define DW_NOIPA [[gnu::noipa]]
#endif

// The chain the child runs. noipa: neither inlined, cloned nor turned into tail calls (the
// asm after each call keeps the caller's frame live), so each is its own frame at -O2.
DW_NOIPA int dw_test_level_two(int depth) {
  ::raise(SIGSTOP);  // the parent captures the scene here, then kills us
  asm volatile("" ::: "memory");
  return depth + 1;
}

DW_NOIPA int dw_test_level_one(int depth) {
  const int r = dw_test_level_two(depth + 1);
  asm volatile("" ::: "memory");
  return r + 1;
}

namespace {

struct Scene {
  pid_t pid = 0;
  UserRegs regs{};
  std::uint64_t stack_address = 0;
  std::vector<std::uint8_t> stack;
  std::string maps;
};

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The end of the mapping that holds `addr`, from maps text; 0 when none does.
std::uint64_t mapping_end(const std::string& maps, std::uint64_t addr) {
  std::istringstream lines(maps);
  std::string line;
  while (std::getline(lines, line)) {
    unsigned long long start = 0, end = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx", &start, &end) == 2 && addr >= start && addr < end)
      return end;
  }
  return 0;
}

std::string self_exe() {
  char buf[4096];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// Forks the child, captures it stopped in dw_test_level_two, then kills and reaps it.
Scene capture_dead_child() {
  Scene s;
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Already traced (run under strace or gdb): exit rather than stop untraced, which the
    // parent's waitpid would never see.
    if (::ptrace(PTRACE_TRACEME, 0, nullptr, nullptr) != 0) ::_exit(77);
    dw_test_level_one(0);
    ::_exit(0);
  }
  s.pid = pid;
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSTOPPED(status));
  REQUIRE(WSTOPSIG(status) == SIGSTOP);

  user_regs_struct ur{};
  REQUIRE(::ptrace(PTRACE_GETREGS, pid, nullptr, &ur) == 0);
  static_assert(sizeof ur >= sizeof s.regs, "user_regs_struct starts with pt_regs");
  std::memcpy(s.regs.data(), &ur, sizeof s.regs);  // same order: see last_words.h

  s.maps = read_text("/proc/" + std::to_string(pid) + "/maps");
  s.stack_address = s.regs[kRsp];
  const std::uint64_t top = mapping_end(s.maps, s.stack_address);
  REQUIRE(top > s.stack_address);
  s.stack.resize(std::min<std::uint64_t>(16 * 1024, top - s.stack_address));
  iovec local{s.stack.data(), s.stack.size()};
  iovec remote{reinterpret_cast<void*>(s.stack_address), s.stack.size()};
  const ssize_t got = ::process_vm_readv(pid, &local, 1, &remote, 1, 0);
  REQUIRE(got > 0);
  s.stack.resize(static_cast<std::size_t>(got));

  ::kill(pid, SIGKILL);
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFSIGNALED(status));
  return s;
}

std::ptrdiff_t index_of(const Backtrace& bt, const std::string& function) {
  for (std::size_t i = 0; i < bt.frames.size(); ++i)
    if (bt.frames[i].function && bt.frames[i].function->starts_with(function))
      return static_cast<std::ptrdiff_t>(i);
  return -1;
}

std::string describe(const Backtrace& bt) {
  std::string out;
  for (const StackFrame& f : bt.frames) {
    char addr[32];
    std::snprintf(addr, sizeof addr, "%#llx", static_cast<unsigned long long>(f.address));
    out += std::string("  ") + addr + " " + f.function.value_or("??") + " (" +
           f.module.value_or("?") + ") " + f.file.value_or("") + ":" +
           std::to_string(f.line.value_or(0)) + "\n";
  }
  return out + "  note: " + bt.note.value_or("-") + "\n";
}

}  // namespace

TEST_CASE("unwind: a dead child's call chain, from its copied stack") {
  const Scene s = capture_dead_child();
  REQUIRE(::kill(s.pid, 0) == -1);  // gone: nothing below can read it

  using std::chrono::steady_clock;
  const auto t0 = steady_clock::now();
  const Backtrace bt = unwind(s.pid, s.pid, s.regs, s.stack_address, s.stack, s.maps, {});
  const auto t1 = steady_clock::now();
  const Backtrace again = unwind(s.pid, s.pid, s.regs, s.stack_address, s.stack, s.maps, {});
  const auto t2 = steady_clock::now();
  using us = std::chrono::microseconds;
  MESSAGE("unwind+symbolize: first " << std::chrono::duration_cast<us>(t1 - t0).count()
                                      << " us, second "
                                      << std::chrono::duration_cast<us>(t2 - t1).count()
                                      << " us, " << bt.frames.size() << " frames, "
                                      << s.stack.size() << " stack bytes\n"
                                      << describe(bt));

  const auto two = index_of(bt, "dw_test_level_two");
  const auto one = index_of(bt, "dw_test_level_one");
  REQUIRE(two >= 0);
  REQUIRE(one == two + 1);
  const std::string exe = self_exe();
  for (auto i : {two, one}) {
    const StackFrame& f = bt.frames[static_cast<std::size_t>(i)];
    CHECK(f.module == exe);
    REQUIRE(f.offset.has_value());
    CHECK(*f.offset < f.address);  // PIE: the load bias is subtracted
    REQUIRE(f.file.has_value());
    CHECK(f.file->ends_with("test_unwind.cpp"));
    CHECK(f.line.value_or(0) > 0);
  }
  // Frame 0 is where the child stopped: inside raise, in libc, at the captured pc.
  CHECK(bt.frames[0].address == s.regs[kRip]);
  CHECK(bt.frames[0].module.value_or("").find("libc") != std::string::npos);
  // The same input gives the same frames.
  REQUIRE(again.frames.size() == bt.frames.size());
  for (std::size_t i = 0; i < bt.frames.size(); ++i) {
    CHECK(again.frames[i].address == bt.frames[i].address);
    CHECK(again.frames[i].function == bt.frames[i].function);
  }

  // Limits and damage on the same capture (blocks, not SUBCASEs: one child is enough).
  {  // the frame limit stops the walk and says so
    const Backtrace few = unwind(s.pid, s.pid, s.regs, s.stack_address, s.stack, s.maps,
                                 UnwindLimits{.max_frames = 2});
    CHECK(few.frames.size() == 2);
    REQUIRE(few.note.has_value());
    CHECK(few.note->find("frame limit") != std::string::npos);
  }
  {  // a stack copy cut short truncates with a note, keeping the frames it reached
    const std::vector<std::uint8_t> short_stack(s.stack.begin(), s.stack.begin() + 64);
    const Backtrace cut = unwind(s.pid, s.pid, s.regs, s.stack_address, short_stack, s.maps, {});
    CHECK(cut.frames.size() >= 1);
    CHECK(cut.frames.size() < bt.frames.size());
    REQUIRE(cut.note.has_value());
    CHECK(cut.note->find("outside the copied stack") != std::string::npos);
    MESSAGE("cut short: " << *cut.note);
  }
}

TEST_CASE("unwind: garbage input gives a frame 0 and a note, never a crash") {
  UserRegs regs{};
  regs[kRip] = 0x1234;
  SUBCASE("nothing at all") {
    const Backtrace bt = unwind(0, 0, regs, 0, {}, "", {});
    REQUIRE(bt.frames.size() == 1);
    CHECK(bt.frames[0].address == 0x1234);
    CHECK_FALSE(bt.frames[0].module.has_value());
    CHECK(bt.note.has_value());
  }
  SUBCASE("maps text that is not maps") {
    const Backtrace bt = unwind(1, 1, regs, 0, {1, 2, 3}, "hello\nworld\n", {});
    REQUIRE(bt.frames.size() == 1);
    CHECK(bt.note.has_value());
  }
  SUBCASE("real maps, a pc in this binary, a stack of noise") {
    std::vector<std::uint8_t> noise(4096);
    for (std::size_t i = 0; i < noise.size(); ++i) noise[i] = static_cast<std::uint8_t>(i * 131 + 7);
    regs[kRip] = reinterpret_cast<std::uint64_t>(&dw_test_level_one) + 4;
    regs[kRsp] = 0x7ffd00000000;
    regs[kRbp] = 0x7ffd00000100;
    const Backtrace bt =
        unwind(::getpid(), ::getpid(), regs, regs[kRsp], noise, read_text("/proc/self/maps"),
               UnwindLimits{.max_frames = 16});
    REQUIRE(!bt.frames.empty());
    CHECK(bt.frames.size() <= 16);
    CHECK(bt.frames[0].function.value_or("").starts_with("dw_test_level_one"));
  }
  SUBCASE("no frames asked for") {
    const Backtrace bt = unwind(1, 1, regs, 0, {}, "", UnwindLimits{.max_frames = 0});
    CHECK(bt.frames.empty());
    CHECK(bt.note.has_value());
  }
}
