// Signal names and siginfo decoding: one table, taken from the C library where it has one.
#pragma once

#include <signal.h>

#include <optional>
#include <string>

namespace deathwatch {

// "SIGTERM", "SIGRTMIN+3", or "SIG42" for numbers the C library does not know.
std::string signal_name(int signo);
// Accepts "SIGTERM", "TERM", "term", "15", "SIGRTMIN+2". Empty when not a signal.
std::optional<int> signal_from_name(const std::string& name);

// "SI_USER", "SEGV_MAPERR", "CLD_EXITED", ... or the number in decimal when unknown.
// Positive codes mean different things for different signals, hence the signal number.
std::string si_code_name(int signo, int code);

// Where a signal came from, as far as its siginfo can say.
enum class SignalOrigin {
  Process,   // kill/sigqueue/tgkill/mq_notify: si_pid and si_uid name the sender
  Kernel,    // SI_KERNEL: made by the kernel (tty Ctrl+C, alarm(), rlimits, OOM, ...)
  Fault,     // si_code > 0 on SIGSEGV/SIGBUS/SIGILL/SIGFPE/SIGTRAP: the receiver's own fault
  Timer,     // SI_TIMER: a POSIX timer of the receiver expired
  Child,     // SIGCHLD with CLD_*: si_pid is the child that changed state, not a sender
  Other,     // async I/O, SI_SIGIO, POLL_*, SYS_SECCOMP and other kernel-made codes
};
SignalOrigin classify_origin(int signo, int code);
// True when si_pid/si_uid of this siginfo identify the process that sent it.
inline bool origin_names_sender(SignalOrigin origin) { return origin == SignalOrigin::Process; }
const char* origin_name(SignalOrigin origin);

// Signals whose default action is to stop the process (job control).
bool is_stop_signal(int signo);
// Synchronous fault signals the kernel raises for the receiver's own instruction.
bool is_fault_signal(int signo);
// Signals whose default action terminates the process (with or without a core dump).
bool is_terminating_by_default(int signo);

// What the receiving process had set for the signal when it reached it: its action was
// SIG_DFL, a handler, or SIG_IGN. Unknown when it could not be read (the process was gone).
enum class Disposition { Unknown, Default, Handled, Ignored };
const char* disposition_name(Disposition disposition);  // "default", "handled", "ignored"; null

}  // namespace deathwatch
