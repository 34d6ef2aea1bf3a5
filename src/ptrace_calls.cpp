#include "deathwatch/ptrace_calls.h"

#include <sys/ptrace.h>
#include <sys/user.h>

#include <cstring>

#include <spdlog/spdlog.h>

namespace deathwatch {

namespace {

Status call(__ptrace_request request, const char* name, pid_t tid, void* addr, void* data) {
  if (::ptrace(request, tid, addr, data) == -1)
    return SysError::from_errno(std::string(name) + " " + std::to_string(tid));
  return Ok{};
}

}  // namespace

unsigned long trace_options(bool follow_forks) {
  unsigned long options = PTRACE_O_TRACECLONE | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT;
  if (follow_forks) options |= PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK;
  return options;
}

unsigned long descendant_trace_options() { return trace_options(true) & ~PTRACE_O_TRACEEXEC; }

Status ptrace_setoptions(pid_t tid, unsigned long options) {
  return call(PTRACE_SETOPTIONS, "PTRACE_SETOPTIONS", tid, nullptr, reinterpret_cast<void*>(options));
}

Status ptrace_seize(pid_t pid, unsigned long options) {
  return call(PTRACE_SEIZE, "PTRACE_SEIZE", pid, nullptr, reinterpret_cast<void*>(options));
}

Status ptrace_interrupt(pid_t tid) {
  return call(PTRACE_INTERRUPT, "PTRACE_INTERRUPT", tid, nullptr, nullptr);
}

Status ptrace_detach(pid_t tid, int signo) {
  return call(PTRACE_DETACH, "PTRACE_DETACH", tid, nullptr,
              reinterpret_cast<void*>(static_cast<long>(signo)));
}

Result<siginfo_t> ptrace_getsiginfo(pid_t tid) {
  siginfo_t info{};
  auto st = call(PTRACE_GETSIGINFO, "PTRACE_GETSIGINFO", tid, nullptr, &info);
  if (!st) return st.error();
  return info;
}

Result<unsigned long> ptrace_geteventmsg(pid_t tid) {
  unsigned long msg = 0;
  auto st = call(PTRACE_GETEVENTMSG, "PTRACE_GETEVENTMSG", tid, nullptr, &msg);
  if (!st) return st.error();
  return msg;
}

bool resume_tracee(pid_t tid, Resume how, int signo) {
  auto st = how == Resume::Listen
                ? call(PTRACE_LISTEN, "PTRACE_LISTEN", tid, nullptr, nullptr)
                : call(PTRACE_CONT, "PTRACE_CONT", tid, nullptr,
                       reinterpret_cast<void*>(static_cast<long>(signo)));
  if (st) return true;
  if (st.error().err != ESRCH) spdlog::error("{}", st.error().describe());
  return false;
}

}  // namespace deathwatch

namespace deathwatch {

Result<UserRegs> ptrace_getregs(pid_t tid) {
  static_assert(sizeof(struct user_regs_struct) >= sizeof(UserRegs));
  struct user_regs_struct regs {};
  if (::ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0)
    return SysError::from_errno("PTRACE_GETREGS " + std::to_string(tid));
  UserRegs words{};
  std::memcpy(words.data(), &regs, sizeof words);
  return words;
}

}  // namespace deathwatch
