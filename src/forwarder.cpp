#include "deathwatch/forwarder.h"

#include <algorithm>

namespace deathwatch {

void SignalForwarder::forget_old_own_copies(Clock::time_point now) {
  if (now - own_copies_pruned_ < kOwnCopyWindow) return;
  own_copies_pruned_ = now;
  std::erase_if(own_copies_, [&](const auto& entry) { return now - entry.second > kOwnCopyWindow; });
}

void SignalForwarder::request(int signo, pid_t sender_pid, Sender sender, Clock::time_point now) {
  forget_old_own_copies(now);
  auto own = own_copies_.find({signo, sender_pid});
  if (own != own_copies_.end() && now - own->second <= kOwnCopyWindow) {
    own_copies_.erase(own);  // the target already got this one itself
    return;
  }
  waiting_.push_back({signo, sender_pid, std::move(sender), now + kForwardDelay});
}

void SignalForwarder::target_received(int signo, pid_t sender_pid, Clock::time_point now) {
  auto waiting = std::find_if(waiting_.begin(), waiting_.end(), [&](const Forward& f) {
    return f.signo == signo && f.sender_pid == sender_pid;
  });
  if (waiting != waiting_.end()) {
    waiting_.erase(waiting);
    return;
  }
  forget_old_own_copies(now);
  own_copies_[{signo, sender_pid}] = now;
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
  own_copies_.clear();
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
