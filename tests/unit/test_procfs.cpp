// /proc parsing (src/procfs.cpp): the pure parsers on fixed texts, and the readers on the live
// test process, whose identity the test knows from getpid()/getppid()/getuid().
#include <doctest/doctest.h>

#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>
#include <string_view>

#include "deathwatch/procfs.h"

using namespace deathwatch;
using namespace std::literals;

namespace {

// A /proc/<pid>/stat line with all 52 fields; `pid_and_comm` is fields 1-2, e.g. "1 (init)".
std::string stat_line(const std::string& pid_and_comm, char state, int ppid,
                      unsigned long long start_ticks) {
  return pid_and_comm + " " + state + " " + std::to_string(ppid) +
         " 6246 3797 0 -1 4194304 98 0 0 0 0 0 0 0 20 0 1 0 " + std::to_string(start_ticks) +
         " 3133440 365 18446744073709551615 94191643885568 94191643905449 140720933637824 0 0 0 "
         "0 0 0 0 0 0 17 0 0 0 0 0 0 94191643921456 94191643923072 94192267689984 "
         "140720933644938 140720933644958 140720933644958 140720933646315 0\n";
}

}  // namespace

TEST_CASE("parse_proc_stat: a real-shaped line") {
  const auto st = parse_proc_stat(stat_line("6248 (cat)", 'R', 6246, 73449));
  REQUIRE(st.has_value());
  CHECK(st->pid == 6248);
  CHECK(st->comm == "cat");
  CHECK(st->state == 'R');
  CHECK(st->ppid == 6246);
  CHECK(st->start_ticks == 73449);
}

TEST_CASE("parse_proc_stat: comm with spaces and ')' is split at the last ')'") {
  const auto st = parse_proc_stat(stat_line("1234 (a) b)", 'S', 1, 555));
  REQUIRE(st.has_value());
  CHECK(st->pid == 1234);
  CHECK(st->comm == "a) b");
  CHECK(st->state == 'S');
  CHECK(st->ppid == 1);
  CHECK(st->start_ticks == 555);
}

TEST_CASE("parse_proc_stat: comm that itself looks like stat fields") {
  // A hostile comm (15 chars max in the kernel, but the parser must not care).
  const auto st = parse_proc_stat(stat_line("77 (x) R 9 9 9 (y)", 'Z', 42, 99));
  REQUIRE(st.has_value());
  CHECK(st->pid == 77);
  CHECK(st->comm == "x) R 9 9 9 (y");
  CHECK(st->state == 'Z');
  CHECK(st->ppid == 42);
  CHECK(st->start_ticks == 99);
}

TEST_CASE("parse_proc_stat: comm with '(' and an empty comm") {
  auto st = parse_proc_stat(stat_line("10 ((sd-pam))", 'S', 9, 1));
  REQUIRE(st.has_value());
  CHECK(st->comm == "(sd-pam)");
  CHECK(st->ppid == 9);

  st = parse_proc_stat(stat_line("11 ()", 'S', 10, 2));
  REQUIRE(st.has_value());
  CHECK(st->comm == "");
  CHECK(st->pid == 11);
  CHECK(st->ppid == 10);
  CHECK(st->start_ticks == 2);
}

TEST_CASE("parse_proc_stat: large start ticks") {
  const auto st = parse_proc_stat(stat_line("1 (init)", 'S', 0, 18446744073709551615ull));
  REQUIRE(st.has_value());
  CHECK(st->pid == 1);
  CHECK(st->ppid == 0);
  CHECK(st->start_ticks == 18446744073709551615ull);
}

TEST_CASE("parse_proc_stat: exactly 22 fields, no trailing newline") {
  const auto st =
      parse_proc_stat("5 (sh) S 4 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 321");
  REQUIRE(st.has_value());
  CHECK(st->ppid == 4);
  CHECK(st->start_ticks == 321);
}

TEST_CASE("parse_proc_stat: malformed texts are rejected") {
  CHECK_FALSE(parse_proc_stat("").has_value());
  CHECK_FALSE(parse_proc_stat("1234 cat S 1").has_value());        // no parentheses
  CHECK_FALSE(parse_proc_stat("1234 (cat S 1 2 3").has_value());   // no ')'
  CHECK_FALSE(parse_proc_stat("1234 )cat( S 1").has_value());      // ')' before '('
  CHECK_FALSE(parse_proc_stat("1234 (cat) S 1 2 3").has_value());  // too few fields
  CHECK_FALSE(parse_proc_stat("1234 (cat)").has_value());
  // 21 fields: one short of starttime.
  CHECK_FALSE(parse_proc_stat("5 (sh) S 4 5 5 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0").has_value());
}

TEST_CASE("parse_status_uid: the real uid, first of the four") {
  const std::string status =
      "Name:\tbash\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4243\n"
      "PPid:\t100\nTracerPid:\t0\nUid:\t1000\t0\t0\t0\nGid:\t100\t100\t100\t100\n";
  CHECK(parse_status_uid(status) == 1000u);
}

TEST_CASE("parse_status_uid: large uids and missing fields") {
  CHECK(parse_status_uid("Name:\tx\nUid:\t4294967294\t0\t0\t0\n") == 4294967294u);
  CHECK(parse_status_uid("Uid:\t0\t0\t0\t0") == 0u);  // first line, no trailing newline
  CHECK_FALSE(parse_status_uid("Name:\tx\nGid:\t5\t5\t5\t5\n").has_value());
  CHECK_FALSE(parse_status_uid("").has_value());
}

TEST_CASE("parse_status_tgid: Tgid, not Pid or NStgid") {
  const std::string status =
      "Name:\tworker\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t4242\nNgid:\t0\nPid:\t4243\n"
      "PPid:\t100\nUid:\t0\t0\t0\t0\nNStgid:\t17\nNSpid:\t18\n";
  CHECK(parse_status_tgid(status) == 4242);
  CHECK_FALSE(parse_status_tgid("Name:\tx\nPid:\t5\nNStgid:\t5\n").has_value());
}

TEST_CASE("split_cmdline") {
  CHECK(split_cmdline(""sv).empty());
  CHECK(split_cmdline("bash\0"sv) == std::vector<std::string>{"bash"});
  CHECK(split_cmdline("sleep\0" "100\0"sv) == std::vector<std::string>{"sleep", "100"});
  // Empty arguments are kept.
  CHECK(split_cmdline("sh\0-c\0\0x\0"sv) == std::vector<std::string>{"sh", "-c", "", "x"});
  // A process that rewrote its argv may leave no trailing NUL.
  CHECK(split_cmdline("nginx: worker process"sv) ==
        std::vector<std::string>{"nginx: worker process"});
  CHECK(split_cmdline("a\0b"sv) == std::vector<std::string>{"a", "b"});
  // Arguments with spaces stay whole.
  CHECK(split_cmdline("echo\0hello world\0"sv) ==
        std::vector<std::string>{"echo", "hello world"});
}

TEST_CASE("read_text_file: limit and missing files") {
  auto whole = read_text_file("/proc/self/stat");
  REQUIRE(whole.ok());
  CHECK(parse_proc_stat(*whole).has_value());

  auto cut = read_text_file("/proc/self/stat", 4);
  REQUIRE(cut.ok());
  CHECK(cut->size() == 4);
  CHECK(*cut == whole->substr(0, 4));

  auto missing = read_text_file("/proc/self/no-such-file");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().err == ENOENT);
  CHECK(missing.error().message.find("/proc/self/no-such-file") != std::string::npos);
}

TEST_CASE("read_proc_stat and read_tgid on the test process") {
  auto st = read_proc_stat(::getpid());
  REQUIRE(st.ok());
  CHECK(st->pid == ::getpid());
  CHECK(st->ppid == ::getppid());
  CHECK(st->state == 'R');
  CHECK(st->start_ticks > 0);
  CHECK(st->start_ticks <= boot_ticks_now());

  CHECK(read_tgid(::getpid()) == ::getpid());
  CHECK_FALSE(read_tgid(INT_MAX).has_value());
  CHECK_FALSE(read_proc_stat(INT_MAX).ok());
}

TEST_CASE("read_ancestry(getpid()): parent first, ending at pid 1 or a pid whose parent is 0") {
  const auto chain = read_ancestry(::getpid());
  REQUIRE_FALSE(chain.empty());
  CHECK(chain.front().pid == ::getppid());

  auto parent = read_proc_stat(::getppid());
  REQUIRE(parent.ok());
  CHECK(chain.front().comm == parent->comm);

  // Each entry is the parent of the one before it.
  pid_t child = ::getpid();
  for (const auto& a : chain) {
    CAPTURE(a.pid);
    CHECK(a.comm != "?");
    auto st = read_proc_stat(child);
    REQUIRE(st.ok());
    CHECK(st->ppid == a.pid);
    child = a.pid;
  }

  const auto& last = chain.back();
  auto last_stat = read_proc_stat(last.pid);
  REQUIRE(last_stat.ok());
  CHECK((last.pid == 1 || last_stat->ppid == 0));
  // The chain never contains the process itself.
  for (const auto& a : chain) CHECK(a.pid != ::getpid());
}

TEST_CASE("read_ancestry: limit and a pid that does not exist") {
  const auto one = read_ancestry(::getpid(), 1);
  REQUIRE(one.size() == 1);
  CHECK(one.front().pid == ::getppid());
  CHECK(read_ancestry(::getpid(), 0).empty());
  CHECK(read_ancestry(INT_MAX).empty());
}

// The kernel's name for this process, read independently of procfs.cpp.
std::string own_comm() {
  std::ifstream f("/proc/self/comm");
  std::string name;
  std::getline(f, name);
  return name;
}

TEST_CASE("read_process_identity(getpid())") {
  const Sender s = read_process_identity(::getpid());
  REQUIRE(s.pid.has_value());
  CHECK(*s.pid == ::getpid());
  REQUIRE(s.uid.has_value());
  CHECK(*s.uid == ::getuid());
  CHECK(s.user == user_name(::getuid()));
  CHECK(s.source == "procfs");
  REQUIRE(s.comm.has_value());
  CHECK(*s.comm == read_proc_stat(::getpid())->comm);
  CHECK(*s.comm == own_comm());  // "unit_tests", or valgrind's tool name under valgrind
  REQUIRE(s.exe.has_value());
  CHECK(*s.exe == read_link("/proc/self/exe"));
  REQUIRE(s.cmdline.has_value());
  REQUIRE_FALSE(s.cmdline->empty());
  CHECK(s.cmdline->front().find("unit_tests") != std::string::npos);
  REQUIRE_FALSE(s.ancestry.empty());
  CHECK(s.ancestry.front().pid == ::getppid());
  CHECK_FALSE(s.note.has_value());
}

TEST_CASE("read_sender") {
  const pid_t self = ::getpid();
  const uid_t uid = ::getuid();

  SUBCASE("a live sender that predates the signal is read from procfs") {
    const Sender s = read_sender(self, uid, boot_ticks_now());
    CHECK(s.pid == self);
    CHECK(s.uid == uid);
    CHECK(s.source == "procfs");
    CHECK(s.comm == own_comm());
    CHECK_FALSE(s.ancestry.empty());
    CHECK_FALSE(s.note.has_value());
  }
  SUBCASE("a process that started after the signal is a reused pid") {
    const Sender s = read_sender(self, uid, 0);
    CHECK(s.pid == self);
    CHECK(s.uid == uid);
    CHECK(s.source == "siginfo");
    CHECK_FALSE(s.comm.has_value());
    REQUIRE(s.note.has_value());
    CHECK(s.note->find("reused") != std::string::npos);
  }
  SUBCASE("a process with another uid is not the sender") {
    const uid_t other = uid + 12345;
    const Sender s = read_sender(self, other, boot_ticks_now());
    CHECK(s.pid == self);
    CHECK(s.uid == other);
    CHECK(s.source == "siginfo");
    CHECK_FALSE(s.comm.has_value());
    REQUIRE(s.note.has_value());
    CHECK(s.note->find("has uid " + std::to_string(uid) + ",") != std::string::npos);
  }
  SUBCASE("a sender that has exited") {
    const Sender s = read_sender(INT_MAX, uid, boot_ticks_now());
    CHECK(s.pid == INT_MAX);
    CHECK(s.source == "siginfo");
    CHECK_FALSE(s.comm.has_value());
    REQUIRE(s.note.has_value());
    CHECK(s.note->find("exited") != std::string::npos);
  }
  SUBCASE("si_pid 0: a sender outside the pid namespace") {
    const Sender s = read_sender(0, uid, boot_ticks_now());
    CHECK_FALSE(s.pid.has_value());
    CHECK(s.uid == uid);
    CHECK(s.source == "siginfo");
    REQUIRE(s.note.has_value());
    CHECK(s.note->find("pid namespace") != std::string::npos);
  }
}

TEST_CASE("user_name") {
  CHECK(user_name(0) == "root");
  CHECK_FALSE(user_name(4000000000u).has_value());
}

TEST_CASE("start_time_from_ticks: the test process started a moment ago") {
  auto st = read_proc_stat(::getpid());
  REQUIRE(st.ok());
  const auto started = start_time_from_ticks(st->start_ticks);
  const auto now = WallClock::now();
  CHECK(started <= now);
  CHECK(now - started < std::chrono::minutes(10));
  // Ticks from boot 0 is the boot time itself: earlier than the process.
  CHECK(start_time_from_ticks(0) <= started);
}

TEST_CASE("status_value and split_lines read /proc/<pid>/status fields") {
  const std::string text = "Name:\tbash\nTgid:\t42\nShdPnd:\t0000000000004000\nUid:\t1000\t1000\t1000\t1000\n";
  CHECK(split_lines(text).size() == 4);
  CHECK(split_lines("a\n\nb").size() == 3);
  REQUIRE(status_value(text, "Tgid"));
  CHECK(*status_value(text, "Tgid") == "42");
  CHECK(*status_value(text, "ShdPnd") == "0000000000004000");
  CHECK_FALSE(status_value(text, "Tg"));  // a prefix of a key is not the key
  CHECK_FALSE(status_value(text, "SigPnd"));
  CHECK(parse_status_uid(text) == 1000u);
}

TEST_CASE("signal_pending sees a blocked, pending signal of a live process") {
  sigset_t set, old;
  sigemptyset(&set);
  sigaddset(&set, SIGUSR2);
  REQUIRE(sigprocmask(SIG_BLOCK, &set, &old) == 0);
  CHECK_FALSE(signal_pending(getpid(), SIGUSR2));
  REQUIRE(kill(getpid(), SIGUSR2) == 0);  // process-directed: ShdPnd
  CHECK(signal_pending(getpid(), SIGUSR2));
  CHECK_FALSE(signal_pending(getpid(), SIGUSR1));
  int got = 0;
  REQUIRE(sigwait(&set, &got) == 0);
  CHECK(got == SIGUSR2);
  CHECK_FALSE(signal_pending(getpid(), SIGUSR2));
  sigprocmask(SIG_SETMASK, &old, nullptr);
  CHECK_FALSE(signal_pending(getpid(), 0));
  CHECK_FALSE(signal_pending(999999999, SIGUSR2));
}

TEST_CASE("parse_disposition: SigIgn and SigCgt of /proc/<pid>/status") {
  // SIGHUP (1) ignored, SIGTERM (15) caught, SIGINT (2) neither.
  const std::string text = "Name:\tx\nSigBlk:\t0000000000000000\nSigIgn:\t0000000000000001\n"
                           "SigCgt:\t0000000000004000\n";
  CHECK(parse_disposition(text, SIGHUP) == Disposition::Ignored);
  CHECK(parse_disposition(text, SIGTERM) == Disposition::Handled);
  CHECK(parse_disposition(text, SIGINT) == Disposition::Default);
  CHECK(parse_disposition(text, 0) == Disposition::Unknown);
  CHECK(parse_disposition("Name:\tx\n", SIGTERM) == Disposition::Unknown);
  // SIGRTMAX (64): the top bit.
  CHECK(parse_disposition("SigIgn:\t8000000000000000\nSigCgt:\t0000000000000000\n", 64) ==
        Disposition::Ignored);
}

TEST_CASE("parse_stat_disposition: sigignore and sigcatch of /proc/<pid>/stat") {
  // Fields 33 and 34 (decimal): SIGHUP ignored (bit 0), SIGUSR1 and SIGTERM caught; a comm
  // with spaces and parentheses does not shift them.
  std::string fields;
  for (int f = 3; f <= 52; ++f) {
    if (f == 3) fields += "S";
    else if (f == 33) fields += " 1";
    else if (f == 34) fields += " " + std::to_string((1u << (SIGUSR1 - 1)) | (1u << (SIGTERM - 1)));
    else fields += " 7";
  }
  const std::string text = "4242 (a) (b c) " + fields + "\n";
  CHECK(parse_stat_disposition(text, SIGHUP) == Disposition::Ignored);
  CHECK(parse_stat_disposition(text, SIGUSR1) == Disposition::Handled);
  CHECK(parse_stat_disposition(text, SIGTERM) == Disposition::Handled);
  CHECK(parse_stat_disposition(text, SIGINT) == Disposition::Default);
  CHECK(parse_stat_disposition(text, 32) == Disposition::Unknown);  // not in stat
  CHECK(parse_stat_disposition(text, 0) == Disposition::Unknown);
  CHECK(parse_stat_disposition("4242 (x) S 1 2\n", SIGTERM) == Disposition::Unknown);  // cut short
  CHECK(parse_stat_disposition("4242 (x) S 1 2 x\n", SIGTERM) == Disposition::Unknown);
  CHECK(parse_stat_disposition("garbage", SIGTERM) == Disposition::Unknown);
}

TEST_CASE("stat and status agree on this process's real dispositions") {
  struct sigaction handled {}, ignored {}, old_usr2 {}, old_winch {};
  handled.sa_handler = [](int) {};
  ignored.sa_handler = SIG_IGN;
  sigaction(SIGUSR2, &handled, &old_usr2);
  sigaction(SIGWINCH, &ignored, &old_winch);
  const auto stat = read_text_file("/proc/self/stat");
  const auto status = read_text_file("/proc/self/status");
  REQUIRE(stat);
  REQUIRE(status);
  for (int signo = 1; signo <= 31; ++signo) CHECK(parse_stat_disposition(*stat, signo) == parse_disposition(*status, signo));
  CHECK(parse_stat_disposition(*stat, SIGUSR2) == Disposition::Handled);
  CHECK(parse_stat_disposition(*stat, SIGWINCH) == Disposition::Ignored);
  sigaction(SIGUSR2, &old_usr2, nullptr);
  sigaction(SIGWINCH, &old_winch, nullptr);
}

TEST_CASE("parse_cgroup_path: the unified hierarchy's path, else systemd's named one") {
  // A hybrid host (this CI machine's layout): both, the unified line wins.
  CHECK(parse_cgroup_path("9:name=systemd:/system.slice/a.service\n4:memory:/m\n0::/system.slice/a.service\n") ==
        std::optional<std::string>("/system.slice/a.service"));
  // cgroup v1 with systemd's named hierarchy only.
  CHECK(parse_cgroup_path("3:cpu:/x\n1:name=systemd:/user.slice/s.scope\n") ==
        std::optional<std::string>("/user.slice/s.scope"));
  // Pure v2.
  CHECK(parse_cgroup_path("0::/\n") == std::optional<std::string>("/"));
  // Neither: no path rather than a controller's.
  CHECK_FALSE(parse_cgroup_path("4:memory:/m\n").has_value());
  CHECK_FALSE(parse_cgroup_path("").has_value());
  CHECK_FALSE(parse_cgroup_path("garbage").has_value());
}
