// Reading a process's identity from /proc.
//
// Everything here races with the process exiting or its pid being reused: every reader
// returns a Result, and read_sender() checks the start time so that a pid recycled after the
// signal is never reported as the sender.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "deathwatch/identity.h"
#include "deathwatch/observation.h"
#include "deathwatch/signals.h"
#include "deathwatch/clock.h"
#include "deathwatch/error.h"

namespace deathwatch {

// The fields of /proc/<pid>/stat that deathwatch uses.
struct ProcStat {
  pid_t pid = 0;
  std::string comm;
  char state = '?';
  pid_t ppid = 0;
  std::uint64_t start_ticks = 0;  // field 22: start time in clock ticks after boot
};

// Parses the text of /proc/<pid>/stat. comm may contain spaces and ')' so the parser splits
// at the last ')'.
std::optional<ProcStat> parse_proc_stat(std::string_view text);
// (cgroup path and systemd unit come from libsystemd, see read_process_identity)
// The real uid from a /proc/<pid>/status text ("Uid:\t<real>\t<eff>...").
std::optional<uid_t> parse_status_uid(std::string_view text);
// Thread group id from a /proc/<tid>/status text.
std::optional<pid_t> parse_status_tgid(std::string_view text);
// The lines of a /proc text (no trailing empty line).
std::vector<std::string_view> split_lines(std::string_view text);
// The value after "Key:" in a /proc/<pid>/status text, whitespace trimmed.
std::optional<std::string_view> status_value(std::string_view text, std::string_view key);
// Whether `signo` is pending for process `pid` (process-wide ShdPnd, or its main thread's
// SigPnd): then it has its own copy coming.
bool signal_pending(pid_t pid, int signo);
// The action process `pid` has set for `signo`, from SigIgn/SigCgt of a /proc/<pid>/status
// text (parse_) or read now (read_); Unknown when the text lacks them or the process is gone.
Disposition parse_disposition(std::string_view status_text, int signo);
// The same from /proc/<pid>/stat's sigignore and sigcatch: signals 1 to 31 only.
Disposition parse_stat_disposition(std::string_view stat_text, int signo);
// read_: from thread `tid` of process `pid` (all threads share the actions), whose own file
// the kernel renders without summing the whole group.
Disposition read_disposition(pid_t pid, pid_t tid, int signo);
// NUL-separated /proc/<pid>/cmdline into arguments.
std::vector<std::string> split_cmdline(std::string_view raw);

Result<std::string> read_text_file(const std::string& path, std::size_t limit = 1 << 16);
Result<ProcStat> read_proc_stat(pid_t pid);
std::optional<pid_t> read_tgid(pid_t tid);
std::optional<std::string> read_link(const std::string& path);
// The cgroup path in /proc/PID/cgroup's text: the unified hierarchy's ("0::"), else systemd's
// named one; none when neither is there.
std::optional<std::string> parse_cgroup_path(std::string_view proc_cgroup);
bool path_exists(const std::string& path);
// The numeric entries of a /proc directory (/proc/<pid>/task: thread ids; .../fd: fds).
std::vector<pid_t> list_numeric_entries(const std::string& dir);
// A thread's name (/proc/PID/task/TID/comm, without its newline).
std::optional<std::string> read_thread_comm(pid_t pid, pid_t tid);
// The user's name (passwd, through NSS). Remembered for a minute per uid (user_names.cpp):
// every signal from a new sender asks, and NSS reads /etc/passwd each time.
std::optional<std::string> user_name(uid_t uid);

// How /proc is mounted where deathwatch runs: hidepid= hides other users' processes
// (1 "noaccess", 2 "invisible", 4 "ptraceable"), gid= exempts a group.
struct ProcMountOptions {
  int hidepid = 0;
  std::optional<gid_t> gid;
};
// From a /proc/self/mountinfo text: the last (topmost) proc mount at /proc.
ProcMountOptions parse_proc_mount_options(std::string_view mountinfo);
// Whether the caller (deathwatch's real uid and groups) could read the command line of a
// process of `owner` in /proc itself. A kernel-captured command line is shown only then.
bool caller_may_read_cmdline_of(uid_t owner);

// Wall-clock start time of a process from its start ticks (boot time + ticks / CLK_TCK).
WallTime start_time_from_ticks(std::uint64_t start_ticks);

// Parent chain of `pid`, parent first, ending at pid 1 (at most `limit` entries).
std::vector<AncestorRef> read_ancestry(pid_t pid, std::size_t limit = 32);

// Identity of the process that sent a signal observed at `observed_boot_ticks`.
// `sender_uid` is the uid the kernel put in the siginfo. When /proc/<pid> is gone, or it started
// after the signal was observed (pid reused), or its real uid differs from sender_uid, only the
// siginfo facts are returned (source "siginfo") with a note saying why.
Sender read_sender(pid_t pid, uid_t sender_uid, std::uint64_t observed_boot_ticks);
// Current CLOCK_BOOTTIME in the clock ticks of /proc/<pid>/stat field 22.
std::uint64_t boot_ticks_now();

// Completes an identity the kernel captured (eBPF) from /proc, but only while the same
// process (same start time) is still there and has not exec'd since: exe, unit, cgroup,
// ancestry, the whole command line where the captured start was cut.
Sender complete_captured_task(const CapturedTask& task);

// Identity of any live process (used for the target itself and for forwarded signals).
Sender read_process_identity(pid_t pid);

}  // namespace deathwatch
