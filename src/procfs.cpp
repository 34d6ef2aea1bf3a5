#include "deathwatch/procfs.h"

#include <dirent.h>
#include <fcntl.h>
#include <systemd/sd-login.h>
#include <time.h>
#include <unistd.h>

#include <cstdlib>
#include <charconv>
#include <cstring>

#include "deathwatch/scoped_fd.h"

namespace deathwatch {

std::optional<ProcStat> parse_proc_stat(std::string_view text) {
  const auto open = text.find('(');
  const auto close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open)
    return std::nullopt;
  ProcStat st;
  st.pid = static_cast<pid_t>(std::strtol(std::string(text.substr(0, open)).c_str(), nullptr, 10));
  st.comm = std::string(text.substr(open + 1, close - open - 1));
  // After ") ": field 3 (state) is index 0.
  std::string rest(text.substr(close + 1));
  std::vector<std::string_view> fields;
  std::string_view view(rest);
  std::size_t pos = 0;
  while (pos < view.size()) {
    while (pos < view.size() && view[pos] == ' ') ++pos;
    const auto end = view.find(' ', pos);
    if (pos < view.size()) fields.push_back(view.substr(pos, end == std::string_view::npos ? end : end - pos));
    if (end == std::string_view::npos) break;
    pos = end;
  }
  // fields[0] = state (field 3), fields[1] = ppid (4), fields[19] = starttime (22).
  if (fields.size() < 20 || fields[0].empty()) return std::nullopt;
  st.state = fields[0][0];
  st.ppid = static_cast<pid_t>(std::strtol(std::string(fields[1]).c_str(), nullptr, 10));
  st.start_ticks = std::strtoull(std::string(fields[19]).c_str(), nullptr, 10);
  return st;
}

namespace {

std::optional<long> status_field(std::string_view text, std::string_view key) {
  auto value = status_value(text, key);
  if (!value) return std::nullopt;
  return std::strtol(std::string(*value).c_str(), nullptr, 10);
}

long clock_ticks_per_second() {
  static const long ticks = ::sysconf(_SC_CLK_TCK);
  return ticks > 0 ? ticks : 100;
}

}  // namespace

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    lines.push_back(text.substr(pos, eol - pos));
    pos = eol + 1;
  }
  return lines;
}

std::optional<std::string_view> status_value(std::string_view text, std::string_view key) {
  std::string full_key(key);
  full_key += ':';
  for (auto line : split_lines(text)) {
    if (line.substr(0, full_key.size()) != full_key) continue;
    auto value = line.substr(full_key.size());
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    return value;
  }
  return std::nullopt;
}

bool signal_pending(pid_t pid, int signo) {
  if (signo < 1 || signo > 64) return false;
  auto status = read_text_file("/proc/" + std::to_string(pid) + "/status");
  if (!status) return false;
  for (const char* key : {"ShdPnd", "SigPnd"}) {
    auto mask_text = status_value(*status, key);
    if (!mask_text) continue;
    const unsigned long long mask = std::strtoull(std::string(*mask_text).c_str(), nullptr, 16);
    if ((mask >> (signo - 1)) & 1ULL) return true;
  }
  return false;
}

Disposition parse_disposition(std::string_view status_text, int signo) {
  if (signo < 1 || signo > 64) return Disposition::Unknown;
  auto bit = [&](std::string_view key) -> std::optional<bool> {
    auto mask_text = status_value(status_text, key);
    if (!mask_text) return std::nullopt;
    const unsigned long long mask = std::strtoull(std::string(*mask_text).c_str(), nullptr, 16);
    return ((mask >> (signo - 1)) & 1ULL) != 0;
  };
  const auto ignored = bit("SigIgn");
  const auto caught = bit("SigCgt");
  if (!ignored || !caught) return Disposition::Unknown;
  if (*ignored) return Disposition::Ignored;
  return *caught ? Disposition::Handled : Disposition::Default;
}

Disposition parse_stat_disposition(std::string_view stat_text, int signo) {
  if (signo < 1 || signo > 31) return Disposition::Unknown;
  // After the last ')' (comm may hold anything): field 3 (state) onwards; sigignore and
  // sigcatch are fields 33 and 34, decimal, the first 31 signals only.
  const auto close = stat_text.rfind(')');
  if (close == std::string_view::npos) return Disposition::Unknown;
  std::string_view rest = stat_text.substr(close + 1);
  unsigned long long ignored = 0, caught = 0;
  int field = 2;
  std::size_t i = 0;
  while (i < rest.size() && field < 34) {
    while (i < rest.size() && rest[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < rest.size() && rest[i] != ' ' && rest[i] != '\n') ++i;
    if (i == start) return Disposition::Unknown;
    ++field;
    if (field == 33 || field == 34) {
      const auto r = std::from_chars(rest.data() + start, rest.data() + i, field == 33 ? ignored : caught);
      if (r.ec != std::errc() || r.ptr != rest.data() + i) return Disposition::Unknown;
    }
  }
  if (field < 34) return Disposition::Unknown;
  if ((ignored >> (signo - 1)) & 1ULL) return Disposition::Ignored;
  return ((caught >> (signo - 1)) & 1ULL) ? Disposition::Handled : Disposition::Default;
}

Disposition read_disposition(pid_t pid, pid_t tid, int signo) {
  // Called at every ptrace signal-delivery stop, mostly for the same thread (a storm): its
  // file stays open, one pread per signal instead of open, read and close (a third of the
  // cost). For the first 31 signals the stat file, which the kernel renders in less than half
  // the time of status; status for the real-time ones (stat's masks stop at 31). The thread's
  // own file (/proc/PID/task/TID), not the process's: the actions are shared by all threads,
  // and the kernel renders it without summing every thread's times (4.0 against 4.6 us a
  // read, the largest part of deathwatch's work per signal). The fd belongs to the thread it
  // was opened for: once that thread is gone, reads fail, and a thread that reuses its id is
  // opened afresh.
  static ScopedFd proc_fd;
  static pid_t proc_tid = 0;
  static bool proc_is_stat = false;
  const bool use_stat = signo >= 1 && signo <= 31;
  char buf[8192];
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (proc_tid != tid || proc_is_stat != use_stat || !proc_fd.is_open()) {
      proc_tid = tid;
      proc_is_stat = use_stat;
      const std::string path = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) +
                               (use_stat ? "/stat" : "/status");
      proc_fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!proc_fd.is_open()) return Disposition::Unknown;
    }
    const ssize_t n = ::pread(proc_fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      const std::string_view text(buf, static_cast<std::size_t>(n));
      return use_stat ? parse_stat_disposition(text, signo) : parse_disposition(text, signo);
    }
    proc_fd.reset();
  }
  return Disposition::Unknown;
}

std::optional<uid_t> parse_status_uid(std::string_view text) {
  auto v = status_field(text, "Uid");
  if (!v) return std::nullopt;
  return static_cast<uid_t>(*v);
}

std::optional<pid_t> parse_status_tgid(std::string_view text) {
  auto v = status_field(text, "Tgid");
  if (!v) return std::nullopt;
  return static_cast<pid_t>(*v);
}

std::vector<std::string> split_cmdline(std::string_view raw) {
  std::vector<std::string> args;
  std::size_t pos = 0;
  while (pos < raw.size()) {
    auto nul = raw.find('\0', pos);
    if (nul == std::string_view::npos) nul = raw.size();
    args.emplace_back(raw.substr(pos, nul - pos));
    pos = nul + 1;
  }
  return args;
}

Result<std::string> read_text_file(const std::string& path, std::size_t limit) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.is_open()) return SysError::from_errno("open " + path);
  std::string out;
  char buf[4096];
  while (out.size() < limit) {
    const ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysError::from_errno("read " + path);
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  if (out.size() > limit) out.resize(limit);
  return out;
}

Result<ProcStat> read_proc_stat(pid_t pid) {
  auto text = read_text_file("/proc/" + std::to_string(pid) + "/stat");
  if (!text) return text.error();
  auto st = parse_proc_stat(*text);
  if (!st) return SysError{"cannot parse /proc/" + std::to_string(pid) + "/stat", 0};
  return *st;
}

std::optional<pid_t> read_tgid(pid_t tid) {
  auto text = read_text_file("/proc/" + std::to_string(tid) + "/status");
  if (!text) return std::nullopt;
  return parse_status_tgid(*text);
}

bool path_exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

std::vector<pid_t> list_numeric_entries(const std::string& dir) {
  std::vector<pid_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (!d) return out;
  while (struct dirent* e = ::readdir(d)) {
    if (e->d_name[0] >= '0' && e->d_name[0] <= '9') out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
  }
  ::closedir(d);
  return out;
}

std::optional<std::string> read_thread_comm(pid_t pid, pid_t tid) {
  auto comm = read_text_file("/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid) + "/comm", 64);
  if (!comm) return std::nullopt;
  std::string name = std::move(*comm);
  while (!name.empty() && name.back() == '\n') name.pop_back();
  return name;
}

std::optional<std::string> read_link(const std::string& path) {
  char buf[4096];
  const ssize_t n = ::readlink(path.c_str(), buf, sizeof buf - 1);
  if (n < 0) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

std::uint64_t boot_ticks_now() {
  struct timespec ts {};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  const long hz = clock_ticks_per_second();
  return static_cast<std::uint64_t>(ts.tv_sec) * hz +
         static_cast<std::uint64_t>(ts.tv_nsec) / (1000000000L / hz);
}

WallTime start_time_from_ticks(std::uint64_t start_ticks) {
  // Field 22 counts from boot on CLOCK_BOOTTIME; anchor it to the wall clock now.
  const auto now = WallClock::now();
  const std::uint64_t now_ticks = boot_ticks_now();
  const long hz = clock_ticks_per_second();
  const auto age = std::chrono::microseconds(
      static_cast<long long>((now_ticks - std::min(now_ticks, start_ticks)) * 1000000 / hz));
  return now - std::chrono::duration_cast<WallClock::duration>(age);
}

std::vector<AncestorRef> read_ancestry(pid_t pid, std::size_t limit) {
  std::vector<AncestorRef> chain;
  auto st = read_proc_stat(pid);
  while (st && st->ppid > 0 && chain.size() < limit) {
    auto parent = read_proc_stat(st->ppid);
    if (!parent) {
      chain.push_back({st->ppid, "?"});
      break;
    }
    chain.push_back({parent->pid, parent->comm});
    st = std::move(parent);
  }
  return chain;
}

std::optional<std::string> parse_cgroup_path(std::string_view proc_cgroup) {
  // "0::/path" (the unified hierarchy), else "N:name=systemd:/path", as libsystemd picks them.
  std::optional<std::string> named;
  std::size_t begin = 0;
  while (begin < proc_cgroup.size()) {
    std::size_t end = proc_cgroup.find('\n', begin);
    if (end == std::string_view::npos) end = proc_cgroup.size();
    const std::string_view line = proc_cgroup.substr(begin, end - begin);
    begin = end + 1;
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    const std::string_view controllers = line.substr(first + 1, second - first - 1);
    const std::string path(line.substr(second + 1));
    if (line.substr(0, first) == "0" && controllers.empty()) return path;
    if (controllers == "name=systemd") named = path;
  }
  return named;
}

namespace {

// Where systemd may have put a process in a unit: systemd runs this machine (what sd_booted()
// checks), or the process's cgroups name a unit. Elsewhere (a container without systemd)
// libsystemd, opened lazily (libsystemd_lazy.cpp), is never loaded at all.
bool may_be_in_unit(std::string_view proc_cgroup) {
  static const bool systemd_runs = path_exists("/run/systemd/system");
  return systemd_runs || proc_cgroup.find(".service") != std::string_view::npos ||
         proc_cgroup.find(".scope") != std::string_view::npos || proc_cgroup.find(".slice") != std::string_view::npos;
}

// Fills everything /proc and libsystemd know of a live process into `s`.
void fill_from_procfs(pid_t pid, const ProcStat& st, Sender& s) {
  const std::string dir = "/proc/" + std::to_string(pid);
  s.comm = st.comm;
  s.exe = read_link(dir + "/exe");
  if (auto raw = read_text_file(dir + "/cmdline")) s.cmdline = split_cmdline(*raw);
  s.ancestry = read_ancestry(pid);
  s.source = "procfs";
  const auto proc_cgroup = read_text_file(dir + "/cgroup");
  if (proc_cgroup && !may_be_in_unit(*proc_cgroup)) {
    s.cgroup = parse_cgroup_path(*proc_cgroup);
    return;
  }
  char* text = nullptr;
  if (::sd_pid_get_cgroup(pid, &text) >= 0 && text) {
    s.cgroup = text;
    std::free(text);
    text = nullptr;
  }
  if ((::sd_pid_get_unit(pid, &text) >= 0 || ::sd_pid_get_user_unit(pid, &text) >= 0) && text) {
    s.unit = text;
    std::free(text);
  }
}

}  // namespace

Sender read_sender(pid_t pid, uid_t sender_uid, std::uint64_t observed_boot_ticks) {
  Sender s;
  s.pid = pid;
  s.uid = sender_uid;
  s.user = user_name(sender_uid);
  if (pid <= 0) {
    s.pid.reset();
    s.note = "a process outside the receiver's pid namespace (si_pid 0)";
    return s;
  }
  auto st = read_proc_stat(pid);
  if (!st) {
    s.note = "sender had exited before it could be read; pid and uid from siginfo";
    return s;
  }
  // A process that started after the signal was observed cannot have sent it.
  if (st->start_ticks > observed_boot_ticks + 1) {
    s.note = "pid was reused before the sender could be read; pid and uid from siginfo";
    return s;
  }
  const std::string dir = "/proc/" + std::to_string(pid);
  if (auto status = read_text_file(dir + "/status")) {
    auto real_uid = parse_status_uid(*status);
    if (real_uid && *real_uid != sender_uid) {
      s.note = "process now at that pid has uid " + std::to_string(*real_uid) +
               ", not the sender's; pid and uid from siginfo";
      return s;
    }
  }
  fill_from_procfs(pid, *st, s);
  if (st->state == 'Z') s.note = "sender is a zombie (exited, not yet reaped)";
  return s;
}

Sender read_process_identity(pid_t pid) {
  Sender s;
  s.pid = pid;
  const std::string dir = "/proc/" + std::to_string(pid);
  if (auto status = read_text_file(dir + "/status")) {
    if (auto uid = parse_status_uid(*status)) {
      s.uid = *uid;
      s.user = user_name(*uid);
    }
  }
  if (auto st = read_proc_stat(pid)) fill_from_procfs(pid, *st, s);
  return s;
}

ProcMountOptions parse_proc_mount_options(std::string_view mountinfo) {
  ProcMountOptions found;
  for (std::string_view line : split_lines(mountinfo)) {
    // "36 25 0:21 / /proc rw,nosuid shared:12 - proc proc rw,hidepid=2,gid=27"
    std::vector<std::string_view> fields;
    for (std::size_t pos = 0; pos <= line.size();) {
      const auto end = std::min(line.find(' ', pos), line.size());
      fields.push_back(line.substr(pos, end - pos));
      pos = end + 1;
    }
    if (fields.size() < 5 || fields[4] != "/proc") continue;
    std::size_t dash = 5;
    while (dash < fields.size() && fields[dash] != "-") ++dash;
    if (dash + 3 >= fields.size() || fields[dash + 1] != "proc") continue;
    ProcMountOptions options;
    std::string_view super = fields[dash + 3];
    for (std::size_t pos = 0; pos <= super.size();) {
      const auto end = std::min(super.find(',', pos), super.size());
      const std::string_view option = super.substr(pos, end - pos);
      pos = end + 1;
      if (option.rfind("hidepid=", 0) == 0) {
        const std::string_view v = option.substr(8);
        options.hidepid = v == "noaccess" ? 1 : v == "invisible" ? 2 : v == "ptraceable" ? 4
                          : v == "off"    ? 0
                                          : std::atoi(std::string(v).c_str());
      } else if (option.rfind("gid=", 0) == 0) {
        options.gid = static_cast<gid_t>(std::strtoul(std::string(option.substr(4)).c_str(), nullptr, 10));
      }
    }
    found = options;
  }
  return found;
}

bool caller_may_read_cmdline_of(uid_t owner) {
  const uid_t caller = ::getuid();
  if (caller == 0 || owner == caller) return true;
  static const ProcMountOptions options = [] {
    auto text = read_text_file("/proc/self/mountinfo", 1 << 20);
    return text ? parse_proc_mount_options(*text) : ProcMountOptions{};
  }();
  if (options.hidepid == 0) return true;
  if (options.gid) {
    if (::getgid() == *options.gid) return true;
    gid_t groups[256];
    const int n = ::getgroups(256, groups);
    for (int i = 0; i < n; ++i)
      if (groups[i] == *options.gid) return true;
  }
  return false;
}

Sender complete_captured_task(const CapturedTask& task) {
  Sender s = task.identity;
  if (s.uid && !caller_may_read_cmdline_of(*s.uid)) {
    // The kernel told deathwatch more than /proc would tell its caller: keep to the latter.
    s.cmdline.reset();
    s.note = "command line not shown: /proc hides other users' processes from the caller (hidepid)";
    if (s.uid) s.user = user_name(*s.uid);
    return s;
  }
  const std::uint64_t start_boot_ns = task.start_boot_ns;
  if (s.uid) s.user = user_name(*s.uid);
  if (!s.pid) return s;
  // The same process still alive (start time within two clock ticks)? Then /proc has more.
  auto st = read_proc_stat(*s.pid);
  if (!st) {
    s.note = "sender exited after sending; identity captured by the kernel at the time";
    return s;
  }
  const long hz = ::sysconf(_SC_CLK_TCK) > 0 ? ::sysconf(_SC_CLK_TCK) : 100;
  const long long start_ns = static_cast<long long>(st->start_ticks) * (1000000000LL / hz);
  const long long delta = start_ns - static_cast<long long>(start_boot_ns);
  if (delta > 2 * (1000000000LL / hz) || delta < -2 * (1000000000LL / hz)) {
    s.note = "sender exited after sending (its pid now belongs to another process)";
    return s;
  }
  const Sender live = read_process_identity(*s.pid);
  s.unit = live.unit;
  s.cgroup = live.cgroup;
  if (live.ancestry.size() > s.ancestry.size()) s.ancestry = live.ancestry;
  s.source = "ebpf+procfs";
  if (live.comm && s.comm != live.comm) {
    // It exec'd since: its exe and command line now describe another program.
    s.note = "has since exec'd " + *live.comm + "; exe unknown";
    return s;
  }
  s.exe = live.exe;
  // What the kernel captured at send time wins; /proc supplies a longer command line.
  if (live.cmdline && (!s.cmdline || task.argv_truncated)) s.cmdline = live.cmdline;
  return s;
}

}  // namespace deathwatch
