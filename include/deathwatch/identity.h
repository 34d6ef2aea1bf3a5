// Who a process is: the identity of a signal's sender, an OOM trigger or the target itself,
// as far as it could be learned. Shared by the backends (which capture it), procfs (which
// reads it) and the certificate (which records it).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace deathwatch {

struct AncestorRef {
  pid_t pid = 0;
  std::string comm;
};

// Who sent a signal. Every field is optional: what could not be learned is null in JSON.
struct Sender {
  std::optional<pid_t> pid;
  std::optional<uid_t> uid;
  std::optional<std::string> user;
  std::optional<std::string> comm;
  std::optional<std::string> exe;
  std::optional<std::vector<std::string>> cmdline;
  std::vector<AncestorRef> ancestry;  // parent first, up to pid 1
  std::optional<std::string> unit;    // systemd unit, when the sender runs in one
  std::optional<std::string> cgroup;
  std::optional<pid_t> tid;                 // the sending thread (eBPF only)
  std::optional<std::uint64_t> cgroup_id;   // its cgroup v2 id at send time (eBPF only)
  // Where the identity came from and how sure it is: "procfs" (read while the sender was
  // alive and its start time predates the signal), "siginfo" (pid/uid only: the sender had
  // already exited or its pid was reused), "self" (the watched process itself).
  std::string source = "siginfo";
  std::optional<std::string> note;  // e.g. "sender outside deathwatch's pid namespace"

  // "bash(2362819) <- sshd(2362800) <- systemd(1)"
  std::string ancestry_line() const;
  // "bash (pid 2362819, uid 0 root)"
  std::string short_description() const;
};

}  // namespace deathwatch
