#include "deathwatch/privileges.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string_view>
#include <vector>

#include "deathwatch/procfs.h"
#include "deathwatch/scoped_fd.h"

extern char** environ;

namespace deathwatch {

namespace {

struct RawCapabilities {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3]{};
};

std::uint64_t join(std::uint32_t low, std::uint32_t high) {
  return (static_cast<std::uint64_t>(high) << 32) | low;
}

}  // namespace

Result<CapabilitySets> read_own_capabilities() {
  RawCapabilities raw;
  if (::syscall(SYS_capget, &raw.header, raw.data) != 0) return SysError::from_errno("capget");
  CapabilitySets sets;
  sets.effective = join(raw.data[0].effective, raw.data[1].effective);
  sets.permitted = join(raw.data[0].permitted, raw.data[1].permitted);
  sets.inheritable = join(raw.data[0].inheritable, raw.data[1].inheritable);
  return sets;
}

Status set_own_capabilities(const CapabilitySets& sets) {
  RawCapabilities raw;
  for (int half = 0; half < 2; ++half) {
    const int shift = half * 32;
    raw.data[half].effective = static_cast<std::uint32_t>(sets.effective >> shift);
    raw.data[half].permitted = static_cast<std::uint32_t>(sets.permitted >> shift);
    raw.data[half].inheritable = static_cast<std::uint32_t>(sets.inheritable >> shift);
  }
  if (::syscall(SYS_capset, &raw.header, raw.data) != 0) return SysError::from_errno("capset");
  return Ok{};
}

bool drop_capabilities_in_child() {
  RawCapabilities raw;
  if (::syscall(SYS_capget, &raw.header, raw.data) != 0) return false;
  for (auto& half : raw.data) half.effective = half.permitted = 0;  // inheritable: the caller's
  return ::syscall(SYS_capset, &raw.header, raw.data) == 0;
}

int restore_original_environment() {
  // The kernel placed the environment strings, as the caller passed them, between env_start
  // and env_end (/proc/self/stat fields 50 and 51); glibc's pruning only rewrote the pointer
  // array. /proc/self/environ would say the same but is unreadable in this mode (the process
  // is not dumpable, its /proc files belong to root).
  auto text = read_text_file("/proc/self/stat", 4096);
  if (!text) return 0;
  const auto close = text->rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string_view> fields;  // fields[0] is field 3 (state)
  std::string_view rest = std::string_view(*text).substr(close + 1);
  while (!rest.empty()) {
    const auto start = rest.find_first_not_of(" \n");
    if (start == std::string_view::npos) break;
    rest.remove_prefix(start);
    const auto end = rest.find_first_of(" \n");
    fields.push_back(rest.substr(0, end));
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end);
  }
  if (fields.size() < 49) return 0;
  const auto env_start = std::stoull(std::string(fields[47]));
  const auto env_end = std::stoull(std::string(fields[48]));
  if (env_start == 0 || env_end <= env_start) return 0;
  const char* block = reinterpret_cast<const char*>(env_start);
  const std::size_t size = env_end - env_start;
  // Never freed: environ must outlive everything (atexit handlers too), as the original
  // array does. Held by a static, so it is not a leak.
  static auto* restored = new std::vector<char*>;
  restored->clear();
  for (std::size_t at = 0; at < size;) {
    const std::size_t length = ::strnlen(block + at, size - at);
    if (length > 0) restored->push_back(const_cast<char*>(block + at));
    at += length + 1;
  }
  int before = 0;
  for (char** e = environ; e && *e; ++e) ++before;
  restored->push_back(nullptr);
  environ = restored->data();
  return static_cast<int>(restored->size()) - 1 - before;
}

Privileges Privileges::at_start() {
  Privileges p;
  p.caller_uid_ = ::getuid();
  p.caller_gid_ = ::getgid();
  // Secure-execution mode for a non-root caller: the kernel gave deathwatch capabilities from
  // its file. A plain binary run by a user who holds capabilities of their own (systemd's
  // AmbientCapabilities=) is not elevated: those are the caller's, and pass to the command.
  const bool secure = ::getauxval(AT_SECURE) != 0 && p.caller_uid_ != 0;
  if (secure) restore_original_environment();
  auto sets = read_own_capabilities();
  p.elevated_ = secure && sets && sets->permitted != 0;
  if (p.elevated_) {
    // `+ep` starts with them effective: lowered until needed.
    CapabilitySets lowered = *sets;
    lowered.effective = 0;
    (void)set_own_capabilities(lowered);
    // Capabilities an ambient set would carry into children: none of deathwatch's.
    ::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
  }
  return p;
}

Privileges::Raised Privileges::raise() const {
  if (elevated_ && !dropped_) {
    if (auto sets = read_own_capabilities()) {
      sets->effective = sets->permitted;
      (void)set_own_capabilities(*sets);
    }
  }
  return Raised(this);
}

Privileges::Raised::~Raised() {
  if (!owner_->elevated_) return;
  if (auto sets = read_own_capabilities()) {
    sets->effective = 0;
    (void)set_own_capabilities(*sets);
  }
}

Status Privileges::drop_all() {
  if (!elevated_ || dropped_) return Ok{};
  auto sets = read_own_capabilities();
  if (!sets) return sets.error();
  sets->effective = 0;
  sets->permitted = 0;
  if (auto st = set_own_capabilities(*sets); !st) return st;
  dropped_ = true;
  return Ok{};
}

Status Privileges::check_caller_may_trace(pid_t pid) const {
  // The kernel's own ptrace access check (PTRACE_MODE_ATTACH with the opener's fs
  // credentials and effective set), with the caller's credentials: uid and gid match, the
  // process is dumpable, its permitted capabilities are within the caller's, and any LSM
  // (Yama) agrees. deathwatch's effective set is empty here, so it adds nothing.
  const std::string path = "/proc/" + std::to_string(pid) + "/mem";
  ScopedFd mem(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (mem.is_open()) return Ok{};
  const int err = errno;
  if (err == ENOENT) return SysError{"no running process " + std::to_string(pid), 0};
  return SysError{"you may not trace pid " + std::to_string(pid) +
                      " (another user's process, or a more privileged one)",
                  err};
}

}  // namespace deathwatch
