// ptrace, wrapped once, in two layers (as rr does):
//  - the fallible layer returns a Status/Result carrying the request name, tid and errno;
//  - the tracee layer treats ESRCH as "the tracee is dying" (normal: it was SIGKILLed or its
//    thread group exec'd), and anything else as a bug worth reporting loudly.
// Precondition for all of them: called on the thread that attached (ptrace is per-thread).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <array>
#include <cstdint>

#include "deathwatch/error.h"
#include "deathwatch/last_words.h"

namespace deathwatch {

// Options for every tracee: event stops for clone/exec/exit (fork and vfork when following
// children). No PTRACE_O_TRACESYSGOOD: deathwatch never stops at system calls.
unsigned long trace_options(bool follow_forks);
// For descendants: no exec events (one stop fewer per child; their argv is read at exit).
unsigned long descendant_trace_options();

Status ptrace_seize(pid_t pid, unsigned long options);
Status ptrace_setoptions(pid_t tid, unsigned long options);
Status ptrace_interrupt(pid_t tid);
Status ptrace_detach(pid_t tid, int signo);
Result<siginfo_t> ptrace_getsiginfo(pid_t tid);
Result<unsigned long> ptrace_geteventmsg(pid_t tid);
// The user registers: the start of struct user_regs_struct, which is pt_regs' order.
Result<UserRegs> ptrace_getregs(pid_t tid);

// How a stopped tracee is let go.
enum class Resume {
  Continue,  // PTRACE_CONT: run on, delivering `signo` (0 = none)
  Listen,    // PTRACE_LISTEN: stay in group-stop but report the next event (SIGCONT, ...)
};

// Tracee layer: returns false when the tracee vanished (ESRCH), logs any other failure.
bool resume_tracee(pid_t tid, Resume how, int signo);

}  // namespace deathwatch
