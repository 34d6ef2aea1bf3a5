// The eBPF backend: the kernel reports every signal generated for a watched process, with
// its sender captured in the sender's context, and the OOM killer's victims. With it active
// the target is not ptraced at all: it never stops for a signal.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "deathwatch/certificate.h"
#include "deathwatch/error.h"

struct dw_event;

namespace deathwatch {

class KernelBackend {
 public:
  using EventHandler = std::function<void(const dw_event&)>;

  // Opens, configures, loads and attaches the programs. Fails (no BTF, no CAP_BPF and
  // CAP_PERFMON, a locked-down kernel, DEATHWATCH_NO_BPF set, or a build without eBPF) with
  // a message that says why; deathwatch then runs on without it.
  static Result<std::unique_ptr<KernelBackend>> open(bool follow_children);
  ~KernelBackend();

  Status watch(pid_t tgid);
  // The ring buffer's descriptor, for poll().
  int event_fd() const;
  // Hands every pending event to `handler`, in order.
  void consume(const EventHandler& handler);
  // Events the kernel could not queue (ring buffer full).
  std::uint64_t dropped() const;
  // How the OOM victim is observed on this kernel.
  const std::string& oom_hook() const { return oom_hook_; }

  struct State;

 private:
  explicit KernelBackend(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  std::string oom_hook_;
};

// The task that was running when the kernel event happened (a signal's sender, an OOM's
// trigger), as captured in its own context, then completed from /proc when the same process
// (same start time) is still there: exe, unit, cgroup, the full command line and ancestry.
Sender describe_current_task(const dw_event& event);

// Converts a bpf_ktime_get_boot_ns() stamp to wall-clock time.
std::chrono::system_clock::time_point boot_ns_to_wall(std::uint64_t boot_ns);

}  // namespace deathwatch
