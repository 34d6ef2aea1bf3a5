#include "deathwatch/forwarder.h"

#include <algorithm>

namespace deathwatch {

void SignalForwarder::request(int signo, pid_t sender_pid, Sender sender, Clock::time_point now) {
  waiting_.push_back({signo, sender_pid, std::move(sender), now + kForwardDelay});
}

void SignalForwarder::target_received(int signo, pid_t sender_pid) {
  std::erase_if(waiting_, [&](const Forward& f) { return f.signo == signo && f.sender_pid == sender_pid; });
}

std::optional<Sender> SignalForwarder::claim(int signo) {
  auto it = std::find_if(sent_.begin(), sent_.end(), [&](const Forward& f) { return f.signo == signo; });
  if (it == sent_.end()) return std::nullopt;
  Sender sender = std::move(it->sender);
  sent_.erase(it);
  return sender;
}

void SignalForwarder::send_due(Clock::time_point now, const SendFn& send, const PendingFn& pending,
                               const std::function<void(int, const Sender&)>& on_sent) {
  std::erase_if(sent_, [&](const Forward& f) { return now - f.due > kForwardMemory; });
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->due > now) {
      ++it;
      continue;
    }
    if (!pending(it->signo) && send(it->signo)) {
      on_sent(it->signo, it->sender);
      sent_.push_back(std::move(*it));
    }
    it = waiting_.erase(it);
  }
}

void SignalForwarder::clear() {
  waiting_.clear();
  sent_.clear();
}

std::optional<SignalForwarder::Clock::time_point> SignalForwarder::next_due() const {
  std::optional<Clock::time_point> next;
  for (const auto& f : waiting_)
    if (!next || f.due < *next) next = f.due;
  return next;
}

}  // namespace deathwatch

namespace deathwatch {

bool SignalForwarder::awaiting_delivery(int signo) const {
  for (const auto& f : sent_)
    if (f.signo == signo) return true;
  return false;
}

}  // namespace deathwatch
