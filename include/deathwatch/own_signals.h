// deathwatch's own signals: every one it can catch is taken synchronously through a
// signalfd instead of its default action, so that the command may send any of them to its
// own process group (SIGPWR, SIGIO from F_SETOWN, a real-time signal) and deathwatch still
// survives to write the certificate, and forwards what was meant for the command.
#pragma once

#include <signal.h>

#include "deathwatch/scoped_fd.h"

namespace deathwatch {

// Blocks every catchable signal (but SIGPIPE, which stays ignored) and returns a signalfd
// for them. Throws FatalError(125) when the kernel refuses.
ScopedFd take_own_signals();

// Whether a signal that a process sent to deathwatch alone is passed on to the target: all
// but SIGCHLD, which speaks of deathwatch's own children.
inline bool is_forwarded(int signo) { return signo != SIGCHLD; }

// Whether an si_code says a process sent the signal (kill, sigqueue, tgkill).
inline bool sent_by_process(int code) { return code == SI_USER || code == SI_QUEUE || code == SI_TKILL; }

// Unblocks `signo` with the raw system call and sends it to deathwatch itself: how it dies
// of the target's death signal, glibc's internal 32 and 33 included.
void raise_unblocked(int signo);

}  // namespace deathwatch
