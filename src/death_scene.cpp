#include "deathwatch/death_scene.h"

#include <sys/uio.h>

#include <cinttypes>
#include <cstdio>
#include <cstdlib>

#include "deathwatch/last_words_reader.h"
#include "deathwatch/procfs.h"
#include "deathwatch/ptrace_calls.h"
#include "deathwatch/signals.h"

namespace deathwatch {

namespace {

std::optional<long long> kib_value(std::string_view status_text, std::string_view key) {
  auto v = status_value(status_text, key);
  if (!v) return std::nullopt;
  return std::strtoll(std::string(*v).c_str(), nullptr, 10);
}

}  // namespace

void fill_scene_status(DeathScene& scene, std::string_view status_text) {
  scene.vm_rss_kib = kib_value(status_text, "VmRSS");
  scene.vm_hwm_kib = kib_value(status_text, "VmHWM");
  if (auto t = kib_value(status_text, "Threads")) scene.threads = static_cast<int>(*t);
}

std::optional<long long> parse_core_limit(std::string_view limits_text) {
  for (std::string_view line : split_lines(limits_text)) {
    if (line.substr(0, 19) != "Max core file size ") continue;
    std::string rest(line.substr(19));
    const auto start = rest.find_first_not_of(' ');
    if (start == std::string::npos) return std::nullopt;
    if (rest.compare(start, 9, "unlimited") == 0) return -1;
    return std::strtoll(rest.c_str() + start, nullptr, 10);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> mapping_end(std::string_view maps, std::uint64_t address) {
  for (std::string_view line : split_lines(maps)) {
    std::uint64_t start = 0, end = 0;
    if (std::sscanf(std::string(line.substr(0, 40)).c_str(), "%" SCNx64 "-%" SCNx64, &start, &end) != 2) continue;
    if (address >= start && address < end) return end;
  }
  return std::nullopt;
}

DeathScene capture_stopped_thread(pid_t tgid, pid_t tid, DeathTrigger trigger, const siginfo_t* info,
                                  std::optional<int> exit_code, std::optional<UserRegs> known_regs) {
  DeathScene scene;
  scene.time = WallClock::now();
  scene.pid = tgid;
  scene.tid = tid;
  scene.trigger = trigger;
  scene.exit_code = exit_code;
  scene.captured_by = trigger == DeathTrigger::ExitCall ? "ptrace PTRACE_EVENT_EXIT" : "ptrace signal-delivery stop";
  if (info) {
    scene.signo = info->si_signo;
    scene.si_code = info->si_code;
    if (classify_origin(info->si_signo, info->si_code) == SignalOrigin::Fault)
      scene.fault_address = reinterpret_cast<std::uintptr_t>(info->si_addr);
  }
  const std::string proc = "/proc/" + std::to_string(tgid);
  const std::string task = proc + "/task/" + std::to_string(tid);
  scene.thread_name = read_thread_comm(tgid, tid).value_or("");
  // The capturing thread's view: once the leader has passed exit_mm (a multi-threaded
  // process's group exit), /proc/PID/maps reads empty while this thread still has the mm.
  if (auto maps = read_text_file(task + "/maps", 4 << 20)) scene.maps = std::move(*maps);
  else scene.notes.push_back("address space unreadable: " + maps.error().describe());

  Result<UserRegs> regs = known_regs ? Result<UserRegs>(*known_regs) : ptrace_getregs(tid);
  if (regs) {
    const UserRegs& r = *regs;
    scene.regs = r;
    // The top of the stack, up to the end of its mapping: the unwinder needs nothing else.
    const std::uint64_t sp = r[kRsp];
    std::size_t want = kStackCopyBytes;
    if (auto end = mapping_end(scene.maps, sp); end && *end - sp < want) want = *end - sp;
    scene.stack.resize(want);
    struct iovec local{scene.stack.data(), want};
    struct iovec remote{reinterpret_cast<void*>(sp), want};
    const ssize_t got = want ? ::process_vm_readv(tid, &local, 1, &remote, 1, 0) : 0;
    scene.stack.resize(got > 0 ? static_cast<std::size_t>(got) : 0);
    scene.stack_address = sp;
    if (got < 0) scene.notes.push_back("stack unreadable: " + SysError::from_errno("process_vm_readv").describe());
    // What the syscall's first argument names, when it is a descriptor.
    if (const auto nr = static_cast<std::int64_t>(r[kOrigRax]); nr >= 0 && syscall_takes_fd(nr) && r[kRdi] < (1u << 20))
      scene.fd_target = read_link(task + "/fd/" + std::to_string(r[kRdi]));
  } else {
    scene.notes.push_back("registers unreadable: " + regs.error().describe());
  }
  if (auto status = read_text_file(task + "/status")) fill_scene_status(scene, *status);
  if (path_exists(task + "/fd")) scene.open_fds = static_cast<int>(list_numeric_entries(task + "/fd").size());
  if (auto limits = read_text_file(task + "/limits")) scene.core_limit = parse_core_limit(*limits);
  scene.cwd = read_link(task + "/cwd");
  return scene;
}

}  // namespace deathwatch
