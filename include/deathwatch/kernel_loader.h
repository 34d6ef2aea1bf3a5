// Loads deathwatch's eBPF programs in a short-lived helper process and hands back only what
// the watcher keeps: descriptors. Why a helper: to load, libbpf reads and parses the kernel's
// whole BTF (megabytes), and a process's peak RSS never comes down again; the watcher, which
// may stay for the months a service runs, keeps the maps and links, never the parse.
#pragma once

#include <sys/types.h>

#include <optional>
#include <vector>

#include "deathwatch/error.h"
#include "deathwatch/last_words.h"
#include "deathwatch/scoped_fd.h"

namespace deathwatch {

struct KernelLoadRequest {
  bool follow_children = false;
  LastWordsPolicy last_words = LastWordsPolicy::Abnormal;
  // Set for a caller who is not root: only processes whose ids are all these are reported.
  std::optional<uid_t> owner_uid;
  std::optional<gid_t> owner_gid;
};

// What stays of a load: the maps the watcher reads or writes, and the links that keep the
// programs attached (a program lives as long as a descriptor of its link does).
struct KernelObjects {
  ScopedFd events;             // ring buffer: signals, forks, execs, exits, OOM victims
  ScopedFd last_words_events;  // ring buffer: captures of dying processes
  ScopedFd watched;            // hash: the tgids watched
  ScopedFd dropped;            // per-CPU array: records that found their ring full
  ScopedFd batching;           // array: 1 while the watcher collects in batches
  std::vector<ScopedFd> links;
  bool with_last_words = false;   // the capture programs are loaded
};

// A load under way in a helper process, which sends the descriptors back over a socket pair
// (SCM_RIGHTS) and exits. Started first thing, it runs on another CPU while deathwatch opens
// its outputs and prepares the command: most of the eBPF start-up is this load (the kernel's
// BTF read and parsed, the verifier), and nothing else waits for it until the command is
// about to run.
class KernelLoad {
 public:
  static Result<KernelLoad> start(const KernelLoadRequest& request);
  KernelLoad(KernelLoad&& other) noexcept;
  KernelLoad& operator=(KernelLoad&& other) noexcept;
  KernelLoad(const KernelLoad&) = delete;
  KernelLoad& operator=(const KernelLoad&) = delete;
  // Not collected: the helper is killed and reaped (its programs go with its descriptors).
  ~KernelLoad();
  // Waits for the helper's answer. Fails with the load's own error (errno included).
  Result<KernelObjects> finish();

 private:
  KernelLoad(ScopedFd socket, pid_t helper) : socket_(std::move(socket)), helper_(helper) {}
  void reap(bool kill_first);
  ScopedFd socket_;
  pid_t helper_ = -1;
};

// start() then finish(), for a caller with nothing to do meanwhile.
Result<KernelObjects> load_kernel_objects(const KernelLoadRequest& request);

}  // namespace deathwatch
