// The eBPF backend's last words: a dw_last_words event (captured in the dying thread's own
// context, deathwatch.bpf.c) as a DeathScene, with the mapped files located on disk.
#include <sys/stat.h>

#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "deathwatch/kernel_backend.h"

#include <spdlog/spdlog.h>
#include "deathwatch/signals.h"
#include "deathwatch_events.h"

namespace deathwatch {

namespace {

std::string bounded(const char* text, std::size_t size) { return std::string(text, strnlen(text, size)); }

std::string perms(unsigned flags) {
  std::string p = "---p";
  if (flags & 1) p[0] = 'r';
  if (flags & 2) p[1] = 'w';
  if (flags & 4) p[2] = 'x';
  if (flags & 8) p[3] = 's';
  return p;
}

// One /proc/PID/maps line.
std::string maps_line(const dw_mapping& m, const std::string& path) {
  char head[160];
  std::snprintf(head, sizeof head, "%" PRIx64 "-%" PRIx64 " %s %08" PRIx64 " %02x:%02x %llu ",
                static_cast<std::uint64_t>(m.start), static_cast<std::uint64_t>(m.end), perms(m.flags).c_str(),
                static_cast<std::uint64_t>(m.pgoff), m.dev >> 20, m.dev & 0xfffff, m.ino);
  return head + path + "\n";
}

std::optional<std::string> describe_fd(unsigned mode, const std::string& name) {
  switch (mode & S_IFMT) {
    case 0: return std::nullopt;
    case S_IFSOCK: return "a socket";
    case S_IFIFO: return "a pipe";
    case S_IFCHR: return "character device " + name;
    case S_IFDIR: return "directory " + name;
    default: return name.empty() ? std::optional<std::string>("a file") : name;
  }
}

}  // namespace

DeathScene translate_last_words(const dw_last_words& e, MappedFileLocator& files) {
  DeathScene scene;
  scene.time = boot_ns_to_wall(e.boot_ns);
  scene.pid = static_cast<pid_t>(e.tgid);
  scene.tid = static_cast<pid_t>(e.tid);
  scene.thread_name = bounded(e.comm, sizeof e.comm);
  if (e.trigger == DW_LW_EXIT_CALL) {
    scene.trigger = DeathTrigger::ExitCall;
    scene.exit_code = e.exit_code;
    scene.captured_by = "ebpf tp_btf/sched_process_exit (in exit_group)";
  } else {
    scene.trigger = DeathTrigger::FatalSignal;
    scene.signo = e.sig;
    scene.si_code = e.code;
    if (e.fault_addr || classify_origin(e.sig, e.code) == SignalOrigin::Fault) scene.fault_address = e.fault_addr;
    scene.captured_by = "ebpf tp_btf/signal_deliver + sched_process_exit";
  }
  UserRegs regs{};
  for (std::size_t i = 0; i < kUserRegCount; ++i) regs[i] = e.regs[i];
  scene.regs = regs;
  scene.stack_address = regs[kRsp];
  const std::size_t stack_len = std::min<std::size_t>(e.stack_len, DW_STACK_LEN);
  scene.stack.assign(e.stack, e.stack + stack_len);
  if (stack_len == 0) scene.notes.push_back("no stack could be copied at the moment of death");
  if (e.maps_busy > 0) spdlog::debug("last words of {}: the memory map was locked {} times", scene.pid, e.maps_busy);
  if (e.maps_read == 0)
    scene.notes.push_back("the memory map stayed locked at the moment of death (" + std::to_string(e.maps_busy) +
                          " tries): the mapped files are not known");

  // While the process is still there (it often is, exiting), /proc names every file exactly.
  files.learn_maps_of(scene.pid);
  std::vector<std::string> unlocated;
  const unsigned count = std::min<unsigned>(e.files, DW_FILES);
  for (unsigned i = 0; i < count; ++i) {
    const dw_mapping& m = e.file[i];
    const std::string name = bounded(m.name, sizeof m.name);
    if (auto path = files.locate(m.dev >> 20, m.dev & 0xfffff, m.ino, name))
      scene.maps += maps_line(m, *path);
    else if (m.flags & 4)  // code: its frames need it (data files such as locales do not)
      unlocated.push_back(name);
  }
  if (e.fault_mapping_found) {
    const dw_mapping& m = e.fault_mapping;
    std::string name = bounded(m.name, sizeof m.name);
    if (m.ino) name = files.locate(m.dev >> 20, m.dev & 0xfffff, m.ino, name).value_or(name);
    scene.maps += maps_line(m, name);
  }
  if (!unlocated.empty()) {
    std::string list;
    for (const auto& n : unlocated) list += (list.empty() ? "" : ", ") + n;
    scene.notes.push_back("mapped files not found on disk (their frames are unnamed): " + list);
  }
  if (e.files_not_kept)
    scene.notes.push_back(std::to_string(e.files_not_kept) + " more mapped files not captured");
  spdlog::debug("last words of {}: {} mapped files ({} located), {} stack bytes", scene.pid, count,
                count - unlocated.size(), stack_len);
  if (e.rss_kib) scene.vm_rss_kib = static_cast<long long>(e.rss_kib);
  if (e.hwm_kib) scene.vm_hwm_kib = static_cast<long long>(e.hwm_kib);
  scene.threads = static_cast<int>(e.threads);
  if (e.open_fds != ~0U) scene.open_fds = static_cast<int>(e.open_fds);
  scene.core_limit = e.core_limit == ~0ULL ? -1 : static_cast<long long>(e.core_limit);
  scene.fd_target = describe_fd(e.fd_mode, bounded(e.fd_name, sizeof e.fd_name));
  return scene;
}

}  // namespace deathwatch
