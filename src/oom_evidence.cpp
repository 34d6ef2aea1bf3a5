#include "deathwatch/oom_evidence.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>

#include "deathwatch/procfs.h"

namespace deathwatch {

namespace {


std::optional<long long> read_counter(const std::string& path) {
  auto text = read_text_file(path);
  if (!text) return std::nullopt;
  return parse_oom_kill_count(*text);
}

// "anon-rss:1234kB" -> 1234
std::optional<long long> kib_field(std::string_view line, std::string_view key) {
  const auto pos = line.find(key);
  if (pos == std::string_view::npos) return std::nullopt;
  return std::strtoll(std::string(line.substr(pos + key.size(), 24)).c_str(), nullptr, 10);
}

}  // namespace

std::string MemoryCgroup::counter_file() const {
  return directory + (version == 1 ? "/memory.oom_control" : "/memory.events");
}
std::string MemoryCgroup::limit_file() const {
  return directory + (version == 1 ? "/memory.limit_in_bytes" : "/memory.max");
}

std::optional<MemoryCgroup> parse_memory_cgroup(std::string_view proc_cgroup) {
  std::optional<MemoryCgroup> unified;
  for (auto line : split_lines(proc_cgroup)) {
    // "hierarchy-id:controller-list:path"
    const auto first = line.find(':');
    const auto second = line.find(':', first + 1);
    if (first == std::string_view::npos || second == std::string_view::npos) continue;
    const auto controllers = line.substr(first + 1, second - first - 1);
    const std::string path(line.substr(second + 1));
    if (line.substr(0, first) == "0" && controllers.empty()) {
      unified = MemoryCgroup{2, path, ""};
      continue;
    }
    std::size_t pos = 0;
    while (pos <= controllers.size()) {
      auto comma = controllers.find(',', pos);
      if (comma == std::string_view::npos) comma = controllers.size();
      if (controllers.substr(pos, comma - pos) == "memory")
        return MemoryCgroup{1, path, "/sys/fs/cgroup/memory" + (path == "/" ? std::string() : path)};
      pos = comma + 1;
    }
  }
  return unified;
}

std::optional<long long> parse_oom_kill_count(std::string_view text) {
  for (auto line : split_lines(text)) {
    if (line.substr(0, 9) == "oom_kill ")
      return std::strtoll(std::string(line.substr(9)).c_str(), nullptr, 10);
  }
  return std::nullopt;
}

std::optional<OomKill> parse_kernel_oom_line(std::string_view line, pid_t pid) {
  const std::string needle = "Killed process " + std::to_string(pid) + " (";
  if (line.find(needle) == std::string_view::npos) return std::nullopt;
  OomKill oom;
  oom.pid = pid;
  oom.source = "kernel log";
  oom.confidence = Confidence::Certain;
  oom.total_vm_kib = kib_field(line, "total-vm:");
  oom.anon_rss_kib = kib_field(line, "anon-rss:");
  oom.file_rss_kib = kib_field(line, "file-rss:");
  oom.shmem_rss_kib = kib_field(line, "shmem-rss:");
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  const auto semicolon = line.find(';');
  oom.evidence.push_back("kernel log: " +
                         std::string(semicolon == std::string_view::npos ? line : line.substr(semicolon + 1)));
  return oom;
}

Result<OwnCgroup> OwnCgroup::create_for(pid_t child) {
  auto own = read_text_file("/proc/self/cgroup");
  if (!own) return own.error();
  auto cgroup = parse_memory_cgroup(*own);
  if (!cgroup || cgroup->version != 1)
    return SysError{"--cgroup needs the cgroup v1 memory controller (on cgroup v2, run deathwatch "
                    "in a unit or delegated cgroup of its own instead)", 0};
  std::string directory = cgroup->directory + "/deathwatch-" + std::to_string(child);
  if (::mkdir(directory.c_str(), 0755) != 0) return SysError::from_errno("mkdir " + directory);
  OwnCgroup created(directory);
  const std::string procs = directory + "/cgroup.procs";
  ScopedFd fd(::open(procs.c_str(), O_WRONLY | O_CLOEXEC));
  const std::string pid = std::to_string(child);
  if (!fd.is_open() || ::write(fd.get(), pid.data(), pid.size()) < 0)
    return SysError::from_errno("move " + pid + " to " + procs);
  return created;
}

OwnCgroup::~OwnCgroup() {
  if (directory_.empty()) return;
  // The reaped target has left it; a lingering descendant keeps it (EBUSY): leave it then.
  for (int attempt = 0; attempt < 20 && ::rmdir(directory_.c_str()) != 0 && errno == EBUSY; ++attempt)
    ::usleep(10000);
}

OomProbe OomProbe::start(pid_t pid) {
  OomProbe probe;
  if (auto text = read_text_file("/proc/" + std::to_string(pid) + "/cgroup")) {
    probe.cgroup_ = parse_memory_cgroup(*text);
    if (probe.cgroup_ && probe.cgroup_->version == 2) {
      // Hybrid hosts mount the unified tree at /sys/fs/cgroup/unified, pure v2 at /sys/fs/cgroup.
      const std::string rel = probe.cgroup_->path == "/" ? "" : probe.cgroup_->path;
      for (const char* root : {"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
        if (path_exists(root + rel + "/memory.events")) probe.cgroup_->directory = root + rel;
      }
      if (probe.cgroup_->directory.empty()) probe.cgroup_.reset();  // no memory controller there
    }
  }
  if (probe.cgroup_) probe.cgroup_kills_before_ = read_counter(probe.cgroup_->counter_file());
  if (auto text = read_text_file("/proc/vmstat")) probe.host_kills_before_ = parse_oom_kill_count(*text);

  // Only records written from now on: seek to the end of the log.
  probe.kmsg_.reset(::open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC));
  if (!probe.kmsg_.is_open())
    probe.kmsg_error_ = std::string("/dev/kmsg: ") + std::strerror(errno);
  else
    ::lseek(probe.kmsg_.get(), 0, SEEK_END);
  return probe;
}

std::optional<OomKill> OomProbe::kernel_log_victim(pid_t pid) {
  if (kmsg_.is_open()) {
    // Every OOM line since the start is kept (they are few): several processes of the tree
    // may ask about the same stretch of log.
    char record[8192];
    for (;;) {
      const ssize_t n = ::read(kmsg_.get(), record, sizeof record - 1);
      if (n < 0 && errno == EPIPE) continue;  // overwritten records: read on
      if (n <= 0) break;
      std::string_view line(record, static_cast<std::size_t>(n));
      if (line.find("Killed process ") != std::string_view::npos) oom_lines_.emplace_back(line);
    }
  }
  for (const auto& line : oom_lines_)
    if (auto oom = parse_kernel_oom_line(line, pid)) return oom;
  return std::nullopt;
}

std::optional<OomKill> OomProbe::conclude(pid_t pid, pid_t watcher) {
  // 1. The kernel log names the victim: certain.
  if (auto oom = kernel_log_victim(pid)) {
    describe_cgroup(*oom, pid, watcher);
    return oom;
  }
  // 2. The memory cgroup's own counter.
  if (!cgroup_ || !cgroup_kills_before_) return std::nullopt;
  const auto after = read_counter(cgroup_->counter_file());
  if (!after || *after <= *cgroup_kills_before_) return std::nullopt;

  OomKill oom;
  oom.pid = pid;
  oom.source = cgroup_->version == 1 ? "memory.oom_control" : "memory.events";
  describe_cgroup(oom, pid, watcher);
  const int others = oom.cgroup_other_processes.value_or(0);
  const long long rise = *after - *cgroup_kills_before_;
  oom.evidence.push_back(oom.source + " oom_kill rose by " + std::to_string(rise) + " in cgroup " +
                         cgroup_->path + " while the process ran");
  if (others == 0) {
    oom.confidence = Confidence::Likely;
    oom.evidence.push_back("no other process shares that cgroup (besides deathwatch)");
  } else {
    oom.confidence = Confidence::Unknown;
    oom.evidence.push_back(std::to_string(others) +
                           " other processes share that cgroup: the OOM killer may have chosen one of them");
  }
  if (host_kills_before_) {
    if (auto text = read_text_file("/proc/vmstat"); text) {
      if (auto host = parse_oom_kill_count(*text); host && *host > *host_kills_before_)
        oom.evidence.push_back("host-wide /proc/vmstat oom_kill also rose by " +
                               std::to_string(*host - *host_kills_before_) + " (weak: counts every OOM kill)");
    }
  }
  return oom;
}

void OomProbe::describe_cgroup(OomKill& oom, pid_t pid, pid_t watcher) const {
  if (!cgroup_) return;
  oom.cgroup = cgroup_->path;
  if (auto limit = read_text_file(cgroup_->limit_file())) {
    if (std::string_view(*limit).substr(0, 3) != "max") {
      const long long bytes = std::strtoll(limit->c_str(), nullptr, 10);
      // v1 reports "no limit" as a huge page-rounded number.
      if (bytes > 0 && bytes < (1LL << 62)) oom.cgroup_limit_bytes = bytes;
    }
  }
  int others = 0;
  if (auto procs = read_text_file(cgroup_->directory + "/cgroup.procs")) {
    for (auto line : split_lines(*procs)) {
      const long p = std::strtol(std::string(line).c_str(), nullptr, 10);
      if (p > 0 && p != pid && p != watcher) ++others;
    }
  }
  oom.cgroup_other_processes = others;
}

std::vector<Backend> OomProbe::backends() const {
  std::vector<Backend> out;
  if (cgroup_)
    out.push_back({"memory-cgroup", cgroup_kills_before_.has_value(),
                   cgroup_->counter_file() + " oom_kill counter"});
  else
    out.push_back({"memory-cgroup", false, "no memory cgroup controller for the process"});
  out.push_back({"kernel-log", kmsg_.is_open(),
                 kmsg_.is_open() ? "/dev/kmsg OOM lines naming the process" : kmsg_error_});
  return out;
}

}  // namespace deathwatch
