// The eBPF backend's translator (kernel_backend.cpp translate): hand-built dw_events in,
// observations out. No kernel involved.
#include <doctest/doctest.h>

#include <signal.h>

#include <cstring>

#include "deathwatch/kernel_backend.h"
#include "deathwatch_events.h"

using namespace deathwatch;

namespace {

dw_event signal_event(unsigned receiver, unsigned sender, int sig, int code) {
  dw_event e{};
  e.kind = DW_EVENT_SIGNAL;
  e.target_tgid = e.target_tid = receiver;
  e.sig = sig;
  e.code = code;
  e.group = 1;
  e.result = 2;  // TRACE_SIGNAL_ALREADY_PENDING
  e.cur_tgid = sender;
  e.cur_tid = sender + 1;
  e.cur_uid = 1000;
  e.cur_start_ns = 123456789;
  std::strcpy(e.cur_comm, "killer");
  e.ancestors = 1;
  e.ancestor[0].tgid = 1;
  std::strcpy(e.ancestor[0].comm, "init");
  const char args[] = "kill\0-TERM\0" "42";
  std::memcpy(e.args, args, sizeof args);
  e.args_len = sizeof args;
  return e;
}

}  // namespace

TEST_CASE("a kill from another process: a signal seen with the sender the kernel captured") {
  const Observation o = translate(signal_event(42, 77, SIGTERM, SI_USER), "hook");
  const auto* seen = std::get_if<SignalSeen>(&o);
  REQUIRE(seen != nullptr);
  CHECK(seen->pid == 42);
  CHECK(seen->signo == SIGTERM);
  CHECK(seen->group == std::optional<bool>(true));
  CHECK(seen->kernel_result == std::optional<int>(2));
  CHECK_FALSE(seen->fault_address.has_value());
  REQUIRE(seen->sender.has_value());
  CHECK(seen->sender->pid == 77);
  REQUIRE(seen->sender->captured.has_value());
  const Sender& s = seen->sender->captured->identity;
  CHECK(s.comm == std::optional<std::string>("killer"));
  CHECK(s.tid == std::optional<pid_t>(78));
  CHECK(s.cmdline == std::optional<std::vector<std::string>>({"kill", "-TERM", "42"}));
  REQUIRE(s.ancestry.size() == 1);
  CHECK(s.ancestry[0].comm == "init");
  CHECK(seen->sender->captured->start_boot_ns == 123456789);
  CHECK_FALSE(seen->sender->captured->argv_truncated);
}

TEST_CASE("a process's own signal carries no captured identity; a fault has its address") {
  const Observation own = translate(signal_event(42, 42, SIGABRT, SI_TKILL), "hook");
  REQUIRE(std::get<SignalSeen>(own).sender.has_value());
  CHECK_FALSE(std::get<SignalSeen>(own).sender->captured.has_value());

  dw_event fault = signal_event(42, 42, SIGSEGV, SEGV_MAPERR);
  fault.fault_addr = 0x10;
  const auto seen = std::get<SignalSeen>(translate(fault, "hook"));
  CHECK(seen.fault_address == std::optional<std::uint64_t>(0x10));
  CHECK_FALSE(seen.sender.has_value());  // the kernel made it: no sender
}

TEST_CASE("fork, exec, exit and OOM events") {
  dw_event fork{};
  fork.kind = DW_EVENT_FORK;
  fork.target_tgid = 50;
  fork.parent_tgid = 42;
  const auto started = std::get<ProcessStarted>(translate(fork, "hook"));
  CHECK(started.pid == 50);
  CHECK(started.parent == 42);

  dw_event exec{};
  exec.kind = DW_EVENT_EXEC;
  exec.target_tgid = 50;
  const char args[] = "sleep\0" "5";
  std::memcpy(exec.args, args, sizeof args);
  exec.args_len = sizeof args;
  std::strcpy(exec.filename, "/bin/sleep");
  const auto execed = std::get<ProcessExeced>(translate(exec, "hook"));
  CHECK(execed.argv == std::optional<std::vector<std::string>>({"sleep", "5"}));
  CHECK(execed.path == std::optional<std::string>("/bin/sleep"));

  dw_event exit{};
  exit.kind = DW_EVENT_EXIT;
  exit.target_tgid = 50;
  exit.exit_code = SIGKILL;  // wait-status form: killed by SIGKILL
  const auto ended = std::get<ProcessEnded>(translate(exit, "hook"));
  CHECK(ended.status.kind == WaitStatus::Kind::Killed);
  CHECK(ended.status.value == SIGKILL);
  CHECK_FALSE(ended.reaped);  // the kernel's word only: a child's wait status follows

  dw_event oom = signal_event(50, 60, 0, 0);
  oom.kind = DW_EVENT_OOM_VICTIM;
  oom.target_tid = 51;
  oom.anon_rss_kib = 1024;
  oom.total_vm_kib = 2048;
  const auto victim = std::get<OomVictim>(translate(oom, "raw_tp/mark_victim"));
  CHECK(victim.pid == 50);
  CHECK(victim.tid == 51);
  CHECK(victim.anon_rss_kib == std::optional<long long>(1024));
  CHECK(victim.hook == "raw_tp/mark_victim");
  REQUIRE(victim.triggered_by.has_value());
  CHECK(victim.triggered_by->identity.comm == std::optional<std::string>("killer"));
}
