// Observations: what a backend saw, in one language for every backend (eBPF, ptrace, plain
// wait statuses). A backend emits them and knows nothing of the certificate; the recorder
// folds them into it. Which backend spoke shows only in the evidence an observation carries
// (a sender captured by the kernel, a kernel result, rusage).
#pragma once

#include <sys/resource.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "deathwatch/clock.h"
#include "deathwatch/identity.h"
#include "deathwatch/last_words.h"
#include "deathwatch/signals.h"
#include "deathwatch/wait_status.h"

namespace deathwatch {

// A task as the kernel captured it in its own context (eBPF): identity (pid, tid, uid, comm,
// parents, the start of its argv), and its start time, so that /proc may complete it only
// while the same process is still there.
struct CapturedTask {
  Sender identity;
  std::uint64_t start_boot_ns = 0;
  bool argv_truncated = false;  // argv filled the capture buffer: /proc has the rest
};

// The process that sent a signal, as far as the observing backend knows it.
struct SignalSender {
  pid_t pid = 0;  // si_pid (ptrace: in the receiver's pid namespace) or the kernel's tgid
  uid_t uid = 0;
  // eBPF: captured at send time. ptrace: absent; the sender is looked up in /proc.
  std::optional<CapturedTask> captured;
};

// A signal generated for (eBPF) or about to be delivered to (ptrace) a watched process.
struct SignalSeen {
  WallTime time{};
  pid_t pid = 0;  // receiving process (thread group id)
  pid_t tid = 0;  // receiving thread
  int signo = 0;
  int code = 0;   // si_code
  std::optional<std::uint64_t> fault_address;  // fault signals
  std::optional<SignalSender> sender;          // when a process sent it (SI_USER, SI_QUEUE, ...)
  // What the receiver had set for the signal: ptrace reads it at the stop, eBPF when the
  // signal is generated.
  Disposition disposition = Disposition::Unknown;
  // eBPF only: process- (true) or thread-directed, and the kernel's TRACE_SIGNAL_* result.
  std::optional<bool> group;
  std::optional<int> kernel_result;
};

// A watched process created process `pid`.
struct ProcessStarted {
  pid_t pid = 0;
  pid_t parent = 0;  // the creating process's tgid
  WallTime time{};
};

// `pid` completed an execve.
struct ProcessExeced {
  pid_t pid = 0;
  // eBPF: the new argv (its start) and the path execve was given, from the kernel; absent
  // when the backend leaves them to /proc (ptrace: the process is stopped, /proc is exact).
  std::optional<std::vector<std::string>> argv;
  std::optional<std::string> path;
  // The launcher's confirmation that the command's first exec succeeded (the exec report's
  // pipe closed), which may be read long after the command exec'd, and even died: not an
  // exec of its own (it must not make the recorder forget a death captured since).
  bool confirmation = false;
};

// ptrace only: `pid` is about to exit with `raw_status` (wait-status form); its memory, and
// so its command line, can still be read.
struct ProcessExiting {
  pid_t pid = 0;
  int raw_status = 0;
};

// `pid` is gone.
struct ProcessEnded {
  pid_t pid = 0;
  WaitStatus status;
  WallTime time{};
  std::optional<struct rusage> usage;  // when collected with its wait status
  // From its wait status (deathwatch is its parent or tracer), or only from the kernel's
  // exit event (eBPF), which for a child of deathwatch comes before its wait status.
  bool reaped = true;
};

// The kernel's OOM killer chose `pid` (eBPF: oom:mark_victim).
struct OomVictim {
  pid_t pid = 0;  // the victim's tgid
  pid_t tid = 0;  // the task the tracepoint named
  WallTime time{};
  std::string hook;  // how it was seen, e.g. "raw_tp/mark_victim"
  std::optional<long long> total_vm_kib, anon_rss_kib, file_rss_kib, shmem_rss_kib;
  std::optional<CapturedTask> triggered_by;  // the task whose allocation ran the OOM killer
};

// A watched process entered (stopped) or left a job-control stop.
struct JobControl {
  pid_t pid = 0;
  int signo = 0;
  bool stopped = false;
};

// A watched process is dying, captured at that moment (last_words.h). `initiator`: the scene
// is of the thread that began the death (it called exit_group, or a fatal signal was being
// delivered to it); otherwise of a thread the death took down (ptrace, for a SIGKILL: the
// leader), kept only until an initiator's scene arrives.
struct DeathCaptured {
  DeathScene scene;
  bool initiator = true;
};

using Observation = std::variant<SignalSeen, ProcessStarted, ProcessExeced, ProcessExiting,
                                 ProcessEnded, OomVictim, JobControl, DeathCaptured>;

// Where backends send what they see. Called synchronously: a ptrace tracee is still held,
// so the receiver may read /proc and write to disk before the target moves on.
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void observe(const Observation& observation) = 0;
};

}  // namespace deathwatch
