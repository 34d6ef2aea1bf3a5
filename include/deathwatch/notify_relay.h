// Type=notify services under deathwatch. systemd's default NotifyAccess=main accepts
// notifications only from the main pid, which is deathwatch, so the command's READY=1 would
// be dropped. When $NOTIFY_SOCKET is set, the command gets a socket of deathwatch's own in
// its place, and every message (READY, STATUS, RELOADING, STOPPING, WATCHDOG,
// EXTEND_TIMEOUT_USEC, FDSTORE with its descriptors, ...) is relayed to systemd's socket from
// deathwatch's pid. MAINPID is not rewritten: deathwatch stays the main process.
#pragma once

#include <sys/types.h>

#include <functional>
#include <optional>
#include <string>

#include "deathwatch/error.h"
#include "deathwatch/scoped_fd.h"

namespace deathwatch {

class NotifyRelay {
 public:
  // From $NOTIFY_SOCKET ("/path" or "@abstract"); nullopt when it is unset. On success the
  // environment's NOTIFY_SOCKET names the relay's own socket, for the command to inherit.
  static std::optional<Result<NotifyRelay>> from_environment();

  int fd() const { return own_.get(); }
  // Relays the messages waiting on the relay's socket (at most kBatch per call, so that a
  // flood cannot starve the poll loop). The socket is abstract: anyone on the host could
  // write to it, so only a message whose kernel-given sender pid `from_watched` accepts (the
  // command and its descendants) is passed on, and never its MAINPID= line: deathwatch stays
  // the main process. Returns how many were relayed.
  static constexpr int kBatch = 64;
  int relay_pending(const std::function<bool(pid_t)>& from_watched);
  // The address the command was given ("@deathwatch-notify-..."): for tests and -v.
  const std::string& own_address() const { return own_address_; }

  NotifyRelay(NotifyRelay&&) = default;
  NotifyRelay& operator=(NotifyRelay&&) = default;

 private:
  NotifyRelay() = default;
  ScopedFd own_;       // bound to an abstract address of deathwatch's own
  ScopedFd upstream_;  // unbound datagram socket, for sendmsg to systemd's
  std::string upstream_address_;
  std::string own_address_;
  bool warned_ = false;          // a message systemd's socket refused
  bool warned_foreign_ = false;  // a message from outside the watched tree
};

}  // namespace deathwatch
