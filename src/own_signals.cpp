#include "deathwatch/own_signals.h"

#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "deathwatch/error.h"

namespace deathwatch {

namespace {

// glibc's sigset functions refuse its two internal real-time signals (32 and 33: thread
// cancellation and the set*id broadcast), which deathwatch, one thread that never cancels,
// does not use, and a `kill -s 32 0` would still kill it. They are set bit by bit and
// (un)blocked with the raw system call, which glibc's sigprocmask would filter.
void add_raw(sigset_t& set, int signo) {
  constexpr std::size_t kBits = 8 * sizeof set.__val[0];
  set.__val[(signo - 1) / kBits] |= 1UL << ((signo - 1) % kBits);
}

}  // namespace

ScopedFd take_own_signals() {
  sigset_t own;
  sigfillset(&own);
  sigdelset(&own, SIGKILL);
  sigdelset(&own, SIGSTOP);
  sigdelset(&own, SIGPIPE);  // ignored instead: a closed stderr must not kill deathwatch
  add_raw(own, 32);
  add_raw(own, 33);
  // A fault in deathwatch itself still kills it: the kernel unblocks a synchronous SIGSEGV
  // it has to deliver.
  if (::syscall(SYS_rt_sigprocmask, SIG_BLOCK, &own, nullptr, _NSIG / 8) != 0)
    throw FatalError(kExitOwnFailure, std::string("sigprocmask: ") + std::strerror(errno));
  ScopedFd fd(::signalfd(-1, &own, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!fd.is_open()) throw FatalError(kExitOwnFailure, std::string("signalfd: ") + std::strerror(errno));
  ::signal(SIGPIPE, SIG_IGN);
  // An inherited SIG_IGN (or SA_NOCLDWAIT) for SIGCHLD would auto-reap the target and
  // silence ptrace stops: deathwatch needs the default. The target gets back what was given.
  ::signal(SIGCHLD, SIG_DFL);
  return fd;
}

void raise_unblocked(int signo) {
  sigset_t only;
  sigemptyset(&only);
  add_raw(only, signo);
  ::syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &only, nullptr, _NSIG / 8);
  ::syscall(SYS_tgkill, ::getpid(), ::gettid(), signo);
}

}  // namespace deathwatch
