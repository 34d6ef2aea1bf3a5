// Evidence of an OOM kill that needs no privilege beyond reading world-readable files:
// the memory cgroup's oom_kill counter (v1 memory.oom_control, v2 memory.events) before and
// after the death, and the kernel log line that names the victim (/dev/kmsg, when
// readable). /proc/vmstat's oom_kill is host-wide: mentioned, never proof.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "deathwatch/certificate.h"
#include "deathwatch/error.h"
#include "deathwatch/scoped_fd.h"

namespace deathwatch {

struct MemoryCgroup {
  int version = 0;          // 1 or 2
  std::string path;         // as in /proc/<pid>/cgroup, e.g. "/system.slice/app.service"
  std::string directory;    // where its files are, e.g. "/sys/fs/cgroup/memory/system.slice/app.service"
  std::string counter_file() const;  // memory.oom_control (v1) or memory.events (v2)
  std::string limit_file() const;    // memory.limit_in_bytes (v1) or memory.max (v2)
};

// From the text of /proc/<pid>/cgroup: the v1 "memory" controller line if there is one,
// else the unified ("0::") line. Directories are not checked here.
std::optional<MemoryCgroup> parse_memory_cgroup(std::string_view proc_cgroup);
// The "oom_kill N" line of memory.oom_control, memory.events or /proc/vmstat.
std::optional<long long> parse_oom_kill_count(std::string_view text);
// A kernel log line "... Killed process PID (comm) total-vm:..kB, anon-rss:..kB, ..." for
// `pid`; fills the memory fields.
std::optional<OomKill> parse_kernel_oom_line(std::string_view line, pid_t pid);

// --cgroup: a memory cgroup of the target's own (cgroup v1 memory controller), so that its
// oom_kill counter counts the target alone. Created under deathwatch's own memory cgroup,
// so any limit above still applies. Removed on destruction (once its processes are gone).
class OwnCgroup {
 public:
  static Result<OwnCgroup> create_for(pid_t child);
  OwnCgroup(OwnCgroup&& other) noexcept : directory_(std::exchange(other.directory_, {})) {}
  OwnCgroup& operator=(OwnCgroup&&) = delete;
  OwnCgroup(const OwnCgroup&) = delete;
  ~OwnCgroup();
  const std::string& directory() const { return directory_; }

 private:
  explicit OwnCgroup(std::string directory) : directory_(std::move(directory)) {}
  std::string directory_;
};

class OomProbe {
 public:
  // Takes the "before" readings for the process `pid` (already in its final cgroup).
  static OomProbe start(pid_t pid);
  // After `pid` died of SIGKILL: what the counters and the log say. `watcher` is deathwatch's
  // own pid (not counted as another process sharing the cgroup).
  std::optional<OomKill> conclude(pid_t pid, pid_t watcher);
  // The kernel log's OOM line for `pid` (any process, a descendant too), if readable.
  std::optional<OomKill> kernel_log_victim(pid_t pid);
  // The sources and whether each could be used, for watcher.backends.
  std::vector<Backend> backends() const;
  const std::optional<MemoryCgroup>& cgroup() const { return cgroup_; }
  // Fills the cgroup path, its limit and how many other processes share it.
  void describe_cgroup(OomKill& oom, pid_t pid, pid_t watcher) const;

 private:
  std::optional<MemoryCgroup> cgroup_;
  std::optional<long long> cgroup_kills_before_;
  std::optional<long long> host_kills_before_;
  ScopedFd kmsg_;
  std::vector<std::string> oom_lines_;
  std::string kmsg_error_;
};

}  // namespace deathwatch
