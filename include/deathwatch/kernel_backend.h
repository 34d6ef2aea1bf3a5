// The eBPF backend: the kernel reports every signal generated for a watched process, with
// its sender captured in the sender's context, and the OOM killer's victims. With it active
// the target is not ptraced at all: it never stops for a signal. Kernel events (dw_event)
// are translated into observations here and go no further.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "deathwatch/identity.h"
#include "deathwatch/kernel_loader.h"
#include "deathwatch/last_words.h"
#include "deathwatch/mapped_files.h"
#include "deathwatch/observation.h"
#include "deathwatch/error.h"

struct dw_event;
struct dw_last_words;

namespace deathwatch {

class KernelBackend {
 public:
  // Opens, configures, loads and attaches the programs: start_loading() starts it in a helper
  // process (kernel_loader.h), open() collects it. Fails (no BTF, no CAP_BPF and
  // CAP_PERFMON, a locked-down kernel, DEATHWATCH_NO_BPF set, or a build without eBPF) with
  // a message that says why; deathwatch then runs on without it.
  // `last_words`: whether dying processes are captured (tp_btf/signal_deliver and the 6.16
  // tp_btf/sched_process_exit); where this kernel cannot load those programs, the rest runs
  // without them and last_words_hook() says why.
  // `owner`: set for a caller who is not root. Processes whose uids or gids are not all the
  // owner's (a set-user-ID or set-group-ID descendant) are not reported: the caller does
  // not own them.
  struct Owner {
    uid_t uid;
    gid_t gid;
  };
  static Result<KernelLoad> start_loading(bool follow_children, LastWordsPolicy last_words,
                                          std::optional<Owner> owner);
  static Result<std::unique_ptr<KernelBackend>> open(Result<KernelLoad> loading, LastWordsPolicy last_words);
  ~KernelBackend();

  Status watch(pid_t tgid);
  // The ring buffer's descriptor, for poll().
  int event_fd() const;
  // Hands every pending event to `observer`, in order, as observations; returns how many.
  std::size_t consume(Observer& observer);
  // Batching: records that can wait do not wake the watcher; it collects them on a timer.
  // Not batching (idle): any record wakes it, so it needs no timer.
  void set_batching(bool on);
  // Events the kernel could not queue (ring buffer full); last-words captures likewise.
  std::uint64_t dropped() const;
  std::uint64_t last_words_dropped() const;
  // How the OOM victim is observed on this kernel.
  const std::string& oom_hook() const { return oom_hook_; }
  // How dying processes are captured here, or why they are not.
  const std::string& last_words_hook() const { return last_words_hook_; }
  bool last_words_active() const { return last_words_active_; }

  struct State;

 private:
  explicit KernelBackend(std::unique_ptr<State> state);
  std::unique_ptr<State> state_;
  std::string oom_hook_;
  std::string last_words_hook_;
  bool last_words_active_ = false;
  std::uint64_t dropped_in(std::uint32_t ring) const;
};

// The task that was running when the kernel event happened (a signal's sender, an OOM's
// trigger), as the kernel captured it in its own context: pid, tid, uid, comm, parents,
// the start of its argv, cgroup id. /proc completes it later (complete_captured_task).
CapturedTask captured_task(const dw_event& event);
// One kernel event as an observation. `oom_hook` names how OOM victims are seen.
Observation translate(const dw_event& event, const std::string& oom_hook);

// A dying process's capture (DW_EVENT_LAST_WORDS) as a DeathScene; `files` locates the
// mapped files it names by device and inode.
DeathScene translate_last_words(const dw_last_words& event, MappedFileLocator& files);

// Converts a bpf_ktime_get_boot_ns() stamp to wall-clock time.
std::chrono::system_clock::time_point boot_ns_to_wall(std::uint64_t boot_ns);

}  // namespace deathwatch
