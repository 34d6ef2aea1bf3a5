#include "deathwatch/signals.h"

#include <string.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <iterator>

namespace deathwatch {

std::string signal_name(int signo) {
  if (signo >= SIGRTMIN && signo <= SIGRTMAX) {
    if (signo == SIGRTMIN) return "SIGRTMIN";
    return "SIGRTMIN+" + std::to_string(signo - SIGRTMIN);
  }
  // sigabbrev_np (glibc >= 2.32) is the C library's own table: nothing to drift.
  if (const char* abbrev = ::sigabbrev_np(signo)) return std::string("SIG") + abbrev;
  return "SIG" + std::to_string(signo);
}

std::optional<int> signal_from_name(const std::string& raw) {
  if (raw.empty()) return std::nullopt;
  if (std::all_of(raw.begin(), raw.end(), [](unsigned char c) { return std::isdigit(c); })) {
    int n = std::atoi(raw.c_str());
    if (n >= 1 && n <= SIGRTMAX) return n;
    return std::nullopt;
  }
  std::string name;
  std::transform(raw.begin(), raw.end(), std::back_inserter(name),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  if (name.rfind("SIG", 0) != 0) name = "SIG" + name;
  // Other names the C library's table does not use.
  if (name == "SIGIO") return SIGIO;
  if (name == "SIGIOT") return SIGABRT;
  if (name == "SIGCLD") return SIGCHLD;
  if (name == "SIGRTMAX") return SIGRTMAX;
  if (name.rfind("SIGRTMAX-", 0) == 0) {
    const int n = std::atoi(name.c_str() + 9);
    if (n >= 0 && SIGRTMAX - n >= SIGRTMIN) return SIGRTMAX - n;
    return std::nullopt;
  }
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    if (signal_name(signo) == name) return signo;
  }
  return std::nullopt;
}

namespace {

struct CodeName {
  int code;
  const char* name;
};

// Codes shared by all signals (<= 0, and SI_KERNEL).
constexpr CodeName kGenericCodes[] = {
    {SI_USER, "SI_USER"},       {SI_KERNEL, "SI_KERNEL"},   {SI_QUEUE, "SI_QUEUE"},
    {SI_TIMER, "SI_TIMER"},     {SI_MESGQ, "SI_MESGQ"},     {SI_ASYNCIO, "SI_ASYNCIO"},
    {SI_SIGIO, "SI_SIGIO"},     {SI_TKILL, "SI_TKILL"},     {SI_DETHREAD, "SI_DETHREAD"},
    {SI_ASYNCNL, "SI_ASYNCNL"},
};
constexpr CodeName kIllCodes[] = {
    {ILL_ILLOPC, "ILL_ILLOPC"}, {ILL_ILLOPN, "ILL_ILLOPN"}, {ILL_ILLADR, "ILL_ILLADR"},
    {ILL_ILLTRP, "ILL_ILLTRP"}, {ILL_PRVOPC, "ILL_PRVOPC"}, {ILL_PRVREG, "ILL_PRVREG"},
    {ILL_COPROC, "ILL_COPROC"}, {ILL_BADSTK, "ILL_BADSTK"},
};
constexpr CodeName kFpeCodes[] = {
    {FPE_INTDIV, "FPE_INTDIV"}, {FPE_INTOVF, "FPE_INTOVF"}, {FPE_FLTDIV, "FPE_FLTDIV"},
    {FPE_FLTOVF, "FPE_FLTOVF"}, {FPE_FLTUND, "FPE_FLTUND"}, {FPE_FLTRES, "FPE_FLTRES"},
    {FPE_FLTINV, "FPE_FLTINV"}, {FPE_FLTSUB, "FPE_FLTSUB"},
};
constexpr CodeName kSegvCodes[] = {
    {SEGV_MAPERR, "SEGV_MAPERR"}, {SEGV_ACCERR, "SEGV_ACCERR"}, {SEGV_BNDERR, "SEGV_BNDERR"},
    {SEGV_PKUERR, "SEGV_PKUERR"}, {SEGV_ACCADI, "SEGV_ACCADI"}, {SEGV_ADIDERR, "SEGV_ADIDERR"},
    {SEGV_ADIPERR, "SEGV_ADIPERR"}, {SEGV_MTEAERR, "SEGV_MTEAERR"}, {SEGV_MTESERR, "SEGV_MTESERR"},
};
constexpr CodeName kBusCodes[] = {
    {BUS_ADRALN, "BUS_ADRALN"}, {BUS_ADRERR, "BUS_ADRERR"}, {BUS_OBJERR, "BUS_OBJERR"},
    {BUS_MCEERR_AR, "BUS_MCEERR_AR"}, {BUS_MCEERR_AO, "BUS_MCEERR_AO"},
};
constexpr CodeName kTrapCodes[] = {
    {TRAP_BRKPT, "TRAP_BRKPT"}, {TRAP_TRACE, "TRAP_TRACE"}, {TRAP_BRANCH, "TRAP_BRANCH"},
    {TRAP_HWBKPT, "TRAP_HWBKPT"},
};
constexpr CodeName kChldCodes[] = {
    {CLD_EXITED, "CLD_EXITED"}, {CLD_KILLED, "CLD_KILLED"},       {CLD_DUMPED, "CLD_DUMPED"},
    {CLD_TRAPPED, "CLD_TRAPPED"}, {CLD_STOPPED, "CLD_STOPPED"}, {CLD_CONTINUED, "CLD_CONTINUED"},
};
constexpr CodeName kPollCodes[] = {
    {POLL_IN, "POLL_IN"}, {POLL_OUT, "POLL_OUT"}, {POLL_MSG, "POLL_MSG"},
    {POLL_ERR, "POLL_ERR"}, {POLL_PRI, "POLL_PRI"}, {POLL_HUP, "POLL_HUP"},
};
// SYS_SECCOMP is only in <asm-generic/siginfo.h>, which clashes with glibc's <signal.h>.
constexpr int kSysSeccomp = 1;
constexpr CodeName kSysCodes[] = {{kSysSeccomp, "SYS_SECCOMP"}};

template <size_t N>
const char* find_code(const CodeName (&table)[N], int code) {
  for (const auto& entry : table)
    if (entry.code == code) return entry.name;
  return nullptr;
}

const char* signal_specific_code(int signo, int code) {
  switch (signo) {
    case SIGILL: return find_code(kIllCodes, code);
    case SIGFPE: return find_code(kFpeCodes, code);
    case SIGSEGV: return find_code(kSegvCodes, code);
    case SIGBUS: return find_code(kBusCodes, code);
    case SIGTRAP: return find_code(kTrapCodes, code);
    case SIGCHLD: return find_code(kChldCodes, code);
    case SIGPOLL: return find_code(kPollCodes, code);
    case SIGSYS: return find_code(kSysCodes, code);
    default: return nullptr;
  }
}

}  // namespace

std::string si_code_name(int signo, int code) {
  if (code > 0 && code != SI_KERNEL) {
    if (const char* name = signal_specific_code(signo, code)) return name;
  } else if (const char* name = find_code(kGenericCodes, code)) {
    return name;
  }
  return std::to_string(code);
}

bool is_fault_signal(int signo) {
  return signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE ||
         signo == SIGTRAP;
}

bool is_stop_signal(int signo) {
  return signo == SIGSTOP || signo == SIGTSTP || signo == SIGTTIN || signo == SIGTTOU;
}

bool is_terminating_by_default(int signo) {
  switch (signo) {
    case SIGCHLD: case SIGCONT: case SIGURG: case SIGWINCH:
    case SIGSTOP: case SIGTSTP: case SIGTTIN: case SIGTTOU:
      return false;
    default:
      return signo >= 1 && signo <= SIGRTMAX;
  }
}

SignalOrigin classify_origin(int signo, int code) {
  switch (code) {
    case SI_USER: case SI_QUEUE: case SI_TKILL: case SI_MESGQ:
      return SignalOrigin::Process;
    case SI_KERNEL:
      return SignalOrigin::Kernel;
    case SI_TIMER:
      return SignalOrigin::Timer;
    default:
      break;
  }
  if (code > 0) {
    if (is_fault_signal(signo)) return SignalOrigin::Fault;
    if (signo == SIGCHLD) return SignalOrigin::Child;
  }
  return SignalOrigin::Other;
}

const char* origin_name(SignalOrigin origin) {
  switch (origin) {
    case SignalOrigin::Process: return "process";
    case SignalOrigin::Kernel: return "kernel";
    case SignalOrigin::Fault: return "fault";
    case SignalOrigin::Timer: return "timer";
    case SignalOrigin::Child: return "child";
    case SignalOrigin::Other: return "other";
  }
  return "other";
}

const char* disposition_name(Disposition disposition) {
  switch (disposition) {
    case Disposition::Default: return "default";
    case Disposition::Handled: return "handled";
    case Disposition::Ignored: return "ignored";
    case Disposition::Unknown: break;
  }
  return nullptr;
}

}  // namespace deathwatch
