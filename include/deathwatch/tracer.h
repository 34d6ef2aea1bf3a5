// The ptrace state machine: every thread of every watched process is a Tracee, and every
// wait status is decoded once (WaitStatus) and dispatched on its kind.
//
// The tracer makes no decisions about meaning: it tells an Observer what happened (while the
// tracee is still stopped, so the observer can read /proc and write to disk before the target
// moves on) and resumes each tracee the way that keeps the target's behaviour unchanged.
#pragma once

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "deathwatch/error.h"
#include "deathwatch/last_words.h"
#include "deathwatch/observation.h"
#include "deathwatch/ptrace_calls.h"
#include "deathwatch/wait_status.h"

namespace deathwatch {


class Tracer {
 public:
  Tracer(Observer& observer, bool follow_forks, LastWordsPolicy last_words = LastWordsPolicy::Abnormal)
      : observer_(observer), follow_forks_(follow_forks), last_words_(last_words) {}

  // Seizes `pid`, a child waiting before exec to be released (launch.h). Fails (EPERM, ...)
  // without changing the child's state.
  Status seize_waiting_child(pid_t pid);

  // Handles one wait status of a tracee; `usage` is its wait4 rusage, if collected. Returns
  // whether a ptrace stop was answered (the tracee resumed, listening or detached): a stop
  // looked at without being collected (wait_next) stays reported until it is.
  bool dispatch(pid_t tid, int raw_status, const struct rusage* usage);

  // Seizes every thread of a running process (attach, --pid). Threads created while this
  // runs are caught by the clone events of those already seized.
  Status seize_running_process(pid_t pid);
  // Lets every tracee go, each with the signal it was about to receive (nothing is lost or
  // delivered twice). The tracees run on as if never traced.
  void detach_all();

  std::size_t tracee_count() const { return tracees_.size(); }

 private:
  enum class TraceeState {
    Running,        // normal: every stop is reported and the tracee resumed
    GroupStopped,   // in a job-control stop, held with PTRACE_LISTEN
    Detaching,      // interrupted so it can be detached at its next stop
  };
  struct Tracee {
    pid_t tgid = 0;
    TraceeState state = TraceeState::Running;
    bool new_descendant = false;  // first stop pending: switch to descendant_trace_options()
  };

  void handle(pid_t tid, int raw_status, const struct rusage* usage);
  // resume_tracee, noting that the stop was answered.
  bool resume(pid_t tid, Resume how, int signo);
  Tracee& tracee_for(pid_t tid);
  void on_signal_delivery(pid_t tid, Tracee& tracee, int signo);
  void on_group_stop(pid_t tid, Tracee& tracee, int signo);
  void on_new_task_event(pid_t tid, const WaitStatus& ws);
  void on_exec_event(pid_t tid, Tracee& tracee);
  void on_task_gone(pid_t tid, const WaitStatus& ws, const struct rusage* usage);
  void leave_group_stop(Tracee& tracee);
  void detach_at_stop(pid_t tid, Tracee& tracee, const WaitStatus& ws);
  // Last words (last_words.h), taken while the thread is stopped.
  void capture_fatal_delivery(pid_t tid, Tracee& tracee, const siginfo_t& info, Disposition disposition);
  void capture_at_exit(pid_t tid, Tracee& tracee, int raw_status);

  Observer& observer_;
  bool answered_ = false;  // the stop being dispatched was answered
  bool follow_forks_;
  LastWordsPolicy last_words_;
  // Processes whose dying thread is captured (an initiator): the rest of their threads'
  // exits are not. Erased when the process ends.
  std::unordered_set<pid_t> death_captured_;
  std::unordered_map<pid_t, Tracee> tracees_;
  // Tasks whose first stop came before their creator's fork/clone event, and when. The
  // kernel may report a child's whole life before that event (the creator preempted between
  // waking the child and stopping): the late event must not make it a second, never-ending
  // birth. An entry leaves when its event comes. A creator killed in between never sends it:
  // an entry older than kCreationEventDelay is stale (its pid may be reused by now).
  static constexpr std::chrono::seconds kCreationEventDelay{10};
  std::unordered_map<pid_t, std::chrono::steady_clock::time_point> born_before_event_;
};

}  // namespace deathwatch
