#include "deathwatch/last_words_reader.h"

#include <signal.h>
#include <unistd.h>

#include <cinttypes>
#include <cstdio>
#include <ctime>

#include "deathwatch/procfs.h"
#include "deathwatch/signals.h"
#include "deathwatch/syscall_names.h"

namespace deathwatch {

namespace {

std::string hex(std::uint64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

std::string basename_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool first_argument_is_fd(const std::string& name) {
  static const char* const kFdCalls[] = {
      "read", "write", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev", "preadv2", "pwritev2",
      "recvfrom", "recvmsg", "recvmmsg", "sendto", "sendmsg", "sendmmsg", "accept", "accept4", "connect",
      "fsync", "fdatasync", "flock", "ioctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "fcntl",
      "ftruncate", "getdents64", "lseek", "splice", "tee", "sync_file_range", "fallocate", "sendfile"};
  for (const char* c : kFdCalls)
    if (name == c) return true;
  return false;
}

std::optional<SyscallInfo> syscall_of(const DeathScene& scene) {
  if (!scene.regs) return std::nullopt;
  const auto nr = static_cast<std::int64_t>((*scene.regs)[kOrigRax]);
  if (nr < 0) return std::nullopt;  // not in a syscall: running its own code
  SyscallInfo info;
  info.number = static_cast<long>(nr);
  info.name = syscall_name(info.number);
  const std::uint64_t arg0 = (*scene.regs)[kRdi];
  if (info.name == "exit_group" || info.name == "exit") {
    info.detail = "status " + std::to_string(static_cast<int>(arg0 & 0xff));
  } else if (first_argument_is_fd(info.name)) {
    info.detail = "fd " + std::to_string(static_cast<long long>(arg0));
    if (scene.fd_target) *info.detail += ": " + *scene.fd_target;
  } else if (info.name == "wait4" || info.name == "waitid") {
    info.detail = "waiting for a child";
  } else if (info.name == "futex") {
    info.detail = "futex at " + hex(arg0);
  }
  return info;
}

std::string expand_core_pattern(const std::string& pattern, const DeathScene& scene) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] != '%' || i + 1 == pattern.size()) {
      out += pattern[i];
      continue;
    }
    const char spec = pattern[++i];
    switch (spec) {
      case '%': out += '%'; break;
      case 'p': case 'P': out += std::to_string(scene.pid); break;
      case 'i': case 'I': out += std::to_string(scene.tid); break;
      case 's': out += std::to_string(scene.signo); break;
      case 'e': out += scene.thread_name; break;
      case 't': out += std::to_string(std::chrono::system_clock::to_time_t(scene.time)); break;
      case 'h': {
        char host[256] = {};
        ::gethostname(host, sizeof host - 1);
        out += host;
        break;
      }
      default: out += '%'; out += spec; break;  // left as the kernel's pattern says
    }
  }
  return out;
}

}  // namespace

bool syscall_takes_fd(long number) { return first_argument_is_fd(syscall_name(number)); }

std::string syscall_name(long number) {
  for (const auto& [nr, name] : kSyscallNames)
    if (name && nr == number) return name;
  return "syscall_" + std::to_string(number);
}

std::optional<std::string> fault_meaning(int signo, int code) {
  if (code <= 0) return "sent by a process (" + si_code_name(signo, code) + "), not a fault";
  if (code == SI_KERNEL)
    return signo == SIGSEGV ? "general protection fault (the kernel reports no address)" : "raised by the kernel";
  const std::string name = si_code_name(signo, code);
  static const std::pair<const char*, const char*> kMeanings[] = {
      {"SEGV_MAPERR", "address not mapped"},
      {"SEGV_ACCERR", "invalid permissions for mapped object"},
      {"SEGV_BNDERR", "failed address bound checks"},
      {"SEGV_PKUERR", "access denied by memory protection keys"},
      {"BUS_ADRALN", "invalid address alignment"},
      {"BUS_ADRERR", "nonexistent physical address (e.g. beyond the end of a mapped file)"},
      {"BUS_OBJERR", "object-specific hardware error"},
      {"BUS_MCEERR_AR", "hardware memory error consumed"},
      {"BUS_MCEERR_AO", "hardware memory error detected"},
      {"ILL_ILLOPC", "illegal opcode"},
      {"ILL_ILLOPN", "illegal operand"},
      {"ILL_ILLADR", "illegal addressing mode"},
      {"ILL_ILLTRP", "illegal trap"},
      {"ILL_PRVOPC", "privileged opcode"},
      {"ILL_PRVREG", "privileged register"},
      {"ILL_COPROC", "coprocessor error"},
      {"ILL_BADSTK", "internal stack error"},
      {"FPE_INTDIV", "integer divide by zero"},
      {"FPE_INTOVF", "integer overflow"},
      {"FPE_FLTDIV", "floating-point divide by zero"},
      {"FPE_FLTOVF", "floating-point overflow"},
      {"FPE_FLTUND", "floating-point underflow"},
      {"FPE_FLTRES", "floating-point inexact result"},
      {"FPE_FLTINV", "invalid floating-point operation"},
      {"FPE_FLTSUB", "subscript out of range"},
      {"TRAP_BRKPT", "breakpoint"},
      {"TRAP_TRACE", "trace trap"},
  };
  for (const auto& [n, meaning] : kMeanings)
    if (name == n) return std::string(meaning);
  return std::nullopt;
}

std::string fault_mapping(const std::string& maps, std::uint64_t address) {
  for (std::string_view line : split_lines(maps)) {
    std::uint64_t start = 0, end = 0;
    char perms[8] = {};
    int path_at = 0;
    const std::string l(line);
    if (std::sscanf(l.c_str(), "%" SCNx64 "-%" SCNx64 " %7s %*x %*x:%*x %*u %n", &start, &end, perms,
                    &path_at) < 3)
      continue;
    if (address < start || address >= end) continue;
    std::string what = path_at > 0 ? l.substr(static_cast<std::size_t>(path_at)) : "";
    if (what.empty()) what = "anonymous memory";
    return what + " " + hex(start) + "-" + hex(end) + " " + perms;
  }
  // mmap_min_addr keeps the first pages unmapped: a small address is a null pointer plus a
  // field offset.
  if (address < 0x10000) return "no mapping: NULL page";
  return "no mapping";
}

std::string core_location(const std::string& core_pattern, const DeathScene& scene) {
  std::string pattern = core_pattern;
  while (!pattern.empty() && (pattern.back() == '\n' || pattern.back() == ' ')) pattern.pop_back();
  if (pattern.empty()) pattern = "core";
  if (pattern[0] == '|') {
    const auto space = pattern.find(' ');
    return "| " + basename_of(pattern.substr(1, space == std::string::npos ? std::string::npos : space - 1)) +
           " (core_pattern pipes it to a program)";
  }
  std::string path = expand_core_pattern(pattern, scene);
  if (path[0] != '/' && scene.cwd) path = *scene.cwd + "/" + path;
  return path;
}

const StackFrame* first_own_frame(const std::vector<StackFrame>& frames) {
  static const char* const kExitPath[] = {"exit", "_exit", "_Exit", "__run_exit_handlers", "abort", "raise",
                                          "__pthread_kill_implementation", "__pthread_kill_internal",
                                          "pthread_kill", "__GI_raise", "__GI_abort", "__GI_exit",
                                          "__libc_start_call_main", "__libc_start_main_impl", "_start"};
  for (const StackFrame& f : frames) {
    const std::string module = f.module ? basename_of(*f.module) : "";
    if (module.rfind("libc.so", 0) == 0 || module.rfind("ld-linux", 0) == 0) continue;
    bool exit_path = false;
    for (const char* name : kExitPath)
      if (f.function && *f.function == name) exit_path = true;
    if (!exit_path) return &f;
  }
  return nullptr;
}

std::string describe_frame(const StackFrame& f) {
  std::string out;
  const std::string module = f.module ? basename_of(*f.module) : "?";
  if (f.function) {
    out = *f.function;
    if (f.file && f.line) return out + " (" + basename_of(*f.file) + ":" + std::to_string(*f.line) + ")";
    return out + " (" + module + ")";
  }
  return module + "+" + hex(f.offset.value_or(f.address));
}

LastWords describe_scene(const DeathScene& scene, const Outcome& outcome, const std::string& core_pattern) {
  LastWords lw;
  lw.tid = scene.tid;
  if (!scene.thread_name.empty()) lw.thread_name = scene.thread_name;
  lw.captured_by = scene.captured_by;
  if (scene.regs) lw.instruction_pointer = (*scene.regs)[kRip];
  if (scene.trigger == DeathTrigger::FatalSignal && is_fault_signal(scene.signo)) {
    lw.fault_address = scene.fault_address;
    lw.fault_meaning = fault_meaning(scene.signo, scene.si_code);
    if (scene.fault_address && scene.si_code > 0 && scene.si_code != SI_KERNEL)
      lw.fault_mapping = fault_mapping(scene.maps, *scene.fault_address);
  }
  lw.syscall = syscall_of(scene);
  lw.vm_rss_kib = scene.vm_rss_kib;
  lw.vm_hwm_kib = scene.vm_hwm_kib;
  lw.threads = scene.threads;
  lw.open_fds = scene.open_fds;
  std::vector<std::string> notes = scene.notes;
  if (outcome.kind == OutcomeKind::Killed || outcome.core_dumped) {
    CoreInfo core;
    core.dumped = outcome.core_dumped;
    if (core.dumped) core.where = core_location(core_pattern, scene);
    else if (outcome.signal && scene.core_limit == 0 && outcome.signal != SIGKILL &&
             (*outcome.signal == SIGSEGV || *outcome.signal == SIGABRT || *outcome.signal == SIGBUS ||
              *outcome.signal == SIGFPE || *outcome.signal == SIGILL || *outcome.signal == SIGQUIT))
      notes.push_back("no core dump: RLIMIT_CORE is 0");
    lw.core = core;
  }
  if (!notes.empty()) {
    std::string joined;
    for (const auto& n : notes) joined += (joined.empty() ? "" : "; ") + n;
    lw.note = joined;
  }
  return lw;
}

}  // namespace deathwatch

// ---- The real reader: libdw ----

#include <set>

#include "deathwatch/unwind.h"

namespace deathwatch {

namespace {

// The lines of the files that hold code: libdw takes the architecture from the first module
// it is given, and a JVM's lowest file mapping is its class-data archive, not an ELF file.
std::string code_files_only(const std::string& maps) {
  std::set<std::string> code;
  auto path_of = [](std::string_view line) -> std::string {
    const auto slash = line.find(" /");
    return slash == std::string_view::npos ? "" : std::string(line.substr(slash + 1));
  };
  for (std::string_view line : split_lines(maps)) {
    const auto space = line.find(' ');
    if (space != std::string_view::npos && line.size() > space + 3 && line[space + 3] == 'x') {
      if (auto p = path_of(line); !p.empty()) code.insert(p);
    }
  }
  std::string out;
  for (std::string_view line : split_lines(maps))
    if (auto p = path_of(line); !p.empty() && code.count(p)) out.append(line).push_back('\n');
  return out;
}

}  // namespace

LastWords LibdwLastWordsReader::read(const DeathScene& scene, const Outcome& outcome, bool unwind_it) {
  auto pattern = read_text_file("/proc/sys/kernel/core_pattern", 256);
  LastWords lw = describe_scene(scene, outcome, pattern ? *pattern : std::string("core"));
  if (!scene.regs || !unwind_it) return lw;
  Backtrace bt = unwind(scene.pid, scene.tid, *scene.regs, scene.stack_address, scene.stack,
                        code_files_only(scene.maps), UnwindLimits{});
  lw.backtrace = std::move(bt.frames);
  if (bt.note) lw.note = lw.note ? *lw.note + "; " + *bt.note : *bt.note;
  return lw;
}

}  // namespace deathwatch
