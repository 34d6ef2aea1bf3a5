// deathwatch's own privileges, and the line between them and the caller's.
//
// An unprivileged user gets the eBPF backend from a one-time admin step:
//   setcap cap_bpf,cap_perfmon+p /usr/bin/deathwatch
// The capabilities are deathwatch's alone. It keeps them in its permitted set only, raises
// them into the effective set just to load and attach the programs, and then drops them all.
// The target runs with exactly the caller's credentials, and `--pid` reaches only processes
// the caller could trace without deathwatch.
//
// A root caller is left as it is: root's target runs as root anyway, and root needs its
// capabilities later (reading other users' /proc, the kernel log).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "deathwatch/error.h"

namespace deathwatch {

struct CapabilitySets {
  std::uint64_t effective = 0;
  std::uint64_t permitted = 0;
  std::uint64_t inheritable = 0;
};

// capget/capset on the calling thread, wrapped once (version 3: 64-bit sets).
Result<CapabilitySets> read_own_capabilities();
Status set_own_capabilities(const CapabilitySets& sets);
// Async-signal-safe: for a forked child before exec. Clears permitted and effective; false
// when the kernel refused (the child must not run the command then).
bool drop_capabilities_in_child();

class Privileges {
 public:
  // First thing in main. Under a file-capability install (the kernel's secure-execution
  // mode), glibc has stripped variables such as LD_LIBRARY_PATH and TMPDIR from deathwatch's
  // environment: the environment the caller gave is restored, for the target to inherit.
  // Then the effective set is lowered, so nothing runs with a capability by accident.
  static Privileges at_start();

  // The caller's real uid: what every permission decision is made for.
  uid_t caller_uid() const { return caller_uid_; }
  gid_t caller_gid() const { return caller_gid_; }
  bool caller_is_root() const { return caller_uid_ == 0; }
  // deathwatch holds capabilities the caller does not (a file-capability install).
  bool elevated() const { return elevated_; }

  // Raises the permitted set into the effective set until the guard ends.
  class Raised {
   public:
    explicit Raised(const Privileges* owner) : owner_(owner) {}
    Raised(const Raised&) = delete;
    Raised& operator=(const Raised&) = delete;
    ~Raised();

   private:
    const Privileges* owner_;
  };
  Raised raise() const;

  // Once the programs are attached: permitted and effective emptied for good. A no-op for a
  // root caller.
  Status drop_all();

  // Whether the caller may trace `pid`, as the kernel decides it for ptrace: opening
  // /proc/PID/mem with the caller's own credentials (deathwatch's effective set is empty
  // then). Refused with the reason; call before anything is loaded or recorded.
  Status check_caller_may_trace(pid_t pid) const;

 private:
  Privileges() = default;
  uid_t caller_uid_ = 0;
  gid_t caller_gid_ = 0;
  bool elevated_ = false;
  bool dropped_ = false;
};

// Restores `environ` from the process's original environment block when glibc has pruned
// it (secure-execution mode). Returns how many variables came back. Exposed for tests.
int restore_original_environment();

}  // namespace deathwatch
