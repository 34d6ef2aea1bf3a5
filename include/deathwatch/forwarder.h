// Passing on signals sent to deathwatch itself (SIGTERM from systemd, kill <deathwatch pid>)
// to the target, without ever delivering one twice.
//
// A signal sent to a whole process group or cgroup reaches deathwatch and the target both;
// forwarding deathwatch's copy would deliver it twice. So a forward waits kForwardDelay and
// is dropped if meanwhile the target showed its own copy from the same sender (or has the
// signal pending). The two copies can be seen in either order: deathwatch may reap the
// target's signal stop before it reads its own copy (the kill(2) landed between the two),
// so a copy the target received is also remembered for kOwnCopyWindow and cancels a later
// request. Pure bookkeeping plus one kill(2): unit-tested with a fake clock.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <utility>
#include <vector>

#include "deathwatch/certificate.h"

namespace deathwatch {

inline constexpr std::chrono::milliseconds kForwardDelay{50};
// A forward whose delivery is never seen (ignored, blocked, taken with sigwait) is forgotten
// after this long, so it is never credited to a later signal of the same number.
inline constexpr std::chrono::seconds kForwardMemory{5};
// How long the target's own copy of a signal, seen before deathwatch's, cancels deathwatch's
// forward of it. Both copies come from one kill(2), so they are seen within one scheduling
// delay of each other; a second, separate signal from the same sender this soon after is
// rare, and the target still got one.
inline constexpr std::chrono::seconds kOwnCopyWindow{1};

class SignalForwarder {
 public:
  using Clock = std::chrono::steady_clock;
  // How a forward is sent: kill(target, signo) in deathwatch; a fake in tests.
  using SendFn = std::function<bool(int signo)>;
  // Whether the target already has `signo` pending (its own copy).
  using PendingFn = std::function<bool(int signo)>;

  // deathwatch received `signo` from `sender` (pid `sender_pid`) at `now`.
  void request(int signo, pid_t sender_pid, Sender sender, Clock::time_point now);
  // The target received `signo` from `sender_pid` itself at `now`: no forward needed.
  void target_received(int signo, pid_t sender_pid, Clock::time_point now);
  // The target received `signo` from deathwatch: whose forward it was, if any.
  std::optional<Sender> claim(int signo);
  // Whether a forward of `signo` was sent and its delivery not yet seen.
  bool awaiting_delivery(int signo) const;
  // Sends the forwards that are due. `on_sent` is told of each one sent.
  void send_due(Clock::time_point now, const SendFn& send, const PendingFn& pending,
                const std::function<void(int signo, const Sender& from)>& on_sent);
  // The target is gone: nothing more to forward.
  void clear();
  std::optional<Clock::time_point> next_due() const;

 private:
  struct Forward {
    int signo;
    pid_t sender_pid;
    Sender sender;
    Clock::time_point due;
  };
  std::vector<Forward> waiting_;  // not yet sent
  std::vector<Forward> sent_;     // sent, the target's delivery not yet seen
  // The target's copies not matched by a request yet, by signal and sender: when each was
  // last seen. Looked up at every signal the target receives (a tracer's stop), so a map, not
  // a scan; entries older than kOwnCopyWindow are dropped at most once per window.
  std::map<std::pair<int, pid_t>, Clock::time_point> own_copies_;
  Clock::time_point own_copies_pruned_{};
  void forget_old_own_copies(Clock::time_point now);
};

}  // namespace deathwatch
