// Last words: where a process was and what it was doing at the moment it died.
//
// A backend captures a DeathScene while the dying task still has its registers and memory
// (ptrace: stopped at PTRACE_EVENT_EXIT or at a fatal signal's delivery; eBPF: in the dying
// task's own context). The scene is raw and self-contained: registers, a copy of the top of
// the stack and the file mappings, so it is unwound later, even after the process is gone
// (unwind.h). The recorder turns it into LastWords, the certificate's `last_words`.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "deathwatch/clock.h"

namespace deathwatch {

// x86_64 user registers in the order of struct pt_regs, which is also the start of
// struct user_regs_struct (PTRACE_GETREGS): both backends fill the same array.
enum UserReg : std::size_t {
  kR15, kR14, kR13, kR12, kRbp, kRbx, kR11, kR10, kR9, kR8, kRax, kRcx, kRdx, kRsi, kRdi,
  kOrigRax, kRip, kCs, kEflags, kRsp, kSs, kUserRegCount
};
using UserRegs = std::array<std::uint64_t, kUserRegCount>;

// What made the process die in the captured thread.
enum class DeathTrigger {
  ExitCall,     // the thread called exit_group (exit(), return from main, abort's last resort)
  FatalSignal,  // a signal whose action is to terminate was being delivered to the thread
};

// A dying process as a backend captured it.
struct DeathScene {
  pid_t pid = 0;  // thread group id
  pid_t tid = 0;  // the thread that ended the process
  std::string thread_name;
  DeathTrigger trigger = DeathTrigger::ExitCall;
  int signo = 0;    // FatalSignal
  int si_code = 0;  // FatalSignal
  std::optional<int> exit_code;                // ExitCall: exit_group's argument (0-255)
  std::optional<std::uint64_t> fault_address;  // fault signals (si_addr)
  std::optional<UserRegs> regs;
  std::uint64_t stack_address = 0;  // user address of stack[0] (the stack pointer)
  std::vector<std::uint8_t> stack;  // the top of the stack, copied
  // The address space in /proc/PID/maps format: every mapping (ptrace), or (eBPF) each mapped
  // file once, from its lowest to its highest address, plus the mapping holding the fault.
  std::string maps;
  // The file descriptor the interrupted syscall's first argument names, as /proc/PID/fd shows
  // it ("/var/log/app.log", "pipe:[1234]"), when the thread was in a syscall.
  std::optional<std::string> fd_target;
  std::optional<long long> vm_rss_kib, vm_hwm_kib;
  std::optional<int> threads, open_fds;
  std::optional<long long> core_limit;  // RLIMIT_CORE soft limit in bytes; -1 = unlimited
  std::optional<std::string> cwd;       // to place a relative core_pattern
  std::string captured_by;              // e.g. "ptrace PTRACE_EVENT_EXIT"
  std::vector<std::string> notes;       // what could not be captured, and why
  WallTime time{};
};

struct StackFrame {
  std::uint64_t address = 0;               // the pc (a return address for outer frames)
  std::optional<std::string> function;     // symbol name (demangled), when known
  std::optional<std::string> module;       // path of the mapped file, e.g. /usr/lib/.../libc.so.6
  std::optional<std::uint64_t> offset;     // address within module, as addr2line -e module takes it
  std::optional<std::string> file;         // source file, when debug info exists
  std::optional<int> line;
};

struct SyscallInfo {
  std::string name;    // "clock_nanosleep", or "syscall_N" when unknown
  long number = -1;
  std::optional<std::string> detail;  // e.g. "fd 3: /var/log/app.log"
};

struct CoreInfo {
  bool dumped = false;
  std::optional<std::string> where;  // file (core_pattern expanded) or "| program"
};

// The Java stack of the JVM thread that began the shutdown (jvm_agent.h).
struct JavaLastWords {
  // How the shutdown began (not in the JSON: `reason` says it in words).
  enum class Shutdown { ExitCall, Signal, MainReturned, Unknown };
  Shutdown how = Shutdown::Unknown;
  std::string thread;              // "main", "SIGTERM handler", "DestroyJavaVM", ...
  std::vector<std::string> stack;  // "Class.method(File.java:line)", innermost first
  std::string reason;              // "System.exit(4) called from SelfKill.main(SelfKill.java:5)"
};

struct LastWords {
  std::optional<pid_t> tid;
  std::optional<std::string> thread_name;
  std::vector<StackFrame> backtrace;
  std::optional<std::uint64_t> fault_address;
  std::optional<std::string> fault_meaning;  // "address not mapped", ...
  std::optional<std::string> fault_mapping;  // the mapping holding it, or "no mapping: NULL page"
  std::optional<std::uint64_t> instruction_pointer;
  std::optional<SyscallInfo> syscall;
  std::optional<long long> vm_rss_kib, vm_hwm_kib;
  std::optional<int> threads, open_fds;
  std::optional<CoreInfo> core;
  std::optional<JavaLastWords> java;
  std::string captured_by;
  std::optional<std::string> note;
};

// --last-words: whose last words are kept.
enum class LastWordsPolicy { Never, Abnormal, Always };

}  // namespace deathwatch
