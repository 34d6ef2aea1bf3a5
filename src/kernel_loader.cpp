#include "deathwatch/kernel_loader.h"

#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>

#include "deathwatch/passed_fds.h"
#include "deathwatch/privileges.h"
#include "deathwatch/procfs.h"
#include "deathwatch_events.h"

#ifdef DEATHWATCH_HAVE_BPF
#include <bpf/libbpf.h>

#include "deathwatch.skel.h"
#include "deathwatch_min_btf.h"

namespace deathwatch {
namespace {

constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";
constexpr int kMaps = 5;  // map descriptors sent, before the links
constexpr int kMaxLinks = 16;

struct SkeletonDeleter {
  void operator()(deathwatch_bpf* skel) const { deathwatch_bpf__destroy(skel); }
};

// The helper's answer, followed in the same message by the descriptors: events,
// last_words_events, watched, dropped, batching, then `links` link descriptors.
struct LoadReply {
  int err;     // 0, or a positive errno
  int stage;   // where it failed: 0 open, 1 load, 2 attach
  int links;
  bool task_form;
  bool with_last_words;
};

std::string first_line(const char* path) {
  auto text = read_text_file(path);
  if (!text) return {};
  std::string line = *text;
  if (auto nl = line.find('\n'); nl != std::string::npos) line.resize(nl);
  return line;
}

// The minimal BTF built in (cmake/EmbedMinBtf.cmake), in a memory file, when this is the kernel
// it was cut from: same release, same build string, same BTF size. Otherwise none, and libbpf
// relocates against the kernel's whole BTF, as it would without it.
ScopedFd matching_min_btf() {
  struct stat st {};
  if (min_btf::kKernelBtfSize == 0 || ::stat(kVmlinuxBtf, &st) != 0 ||
      static_cast<unsigned long long>(st.st_size) != min_btf::kKernelBtfSize ||
      first_line("/proc/sys/kernel/osrelease") != min_btf::kRelease ||
      first_line("/proc/sys/kernel/version") != min_btf::kVersion)
    return {};
  ScopedFd file(::memfd_create("deathwatch-min-btf", MFD_CLOEXEC));
  if (!file.is_open()) return {};
  const auto* data = min_btf::kBytes;
  std::size_t left = sizeof min_btf::kBytes;
  while (left > 0) {
    const ssize_t n = ::write(file.get(), data, left);
    if (n <= 0) return {};
    data += n;
    left -= static_cast<std::size_t>(n);
  }
  return file;
}

// The load proper, in the helper. open -> read-only configuration -> load -> attach, in that
// order. mark_victim passes the victim's task on 6.x kernels and only its pid before: the
// verifier, checking the program against this kernel's BTF, tells which form loads (a feature
// check at run time). The last-words programs need the open-coded VMA iterator (6.7) and the
// 6.16 sched_process_exit: on a kernel without them, the rest loads without them.
LoadReply load_here(const KernelLoadRequest& request, std::unique_ptr<deathwatch_bpf, SkeletonDeleter>& skel) {
  LoadReply reply{0, 0, 0, true, request.last_words != LastWordsPolicy::Never};
  int err = 0;
  auto own_caps = read_own_capabilities();
  const ScopedFd min_btf = matching_min_btf();
  const std::string min_btf_path = "/proc/self/fd/" + std::to_string(min_btf.get());
  for (bool try_last_words : {reply.with_last_words, false}) {
    for (bool try_task_form : {true, false}) {
      // CO-RE against the built-in minimal BTF where it matches this kernel. Else, without
      // CAP_SYS_ADMIN, against vmlinux's BTF only: without a path, libbpf looks for a type
      // missing from vmlinux (mm_rss_stat___old, kept for older kernels) in the modules' BTF
      // too, and walking those (BPF_BTF_GET_NEXT_ID) needs CAP_SYS_ADMIN: with only CAP_BPF
      // and CAP_PERFMON the load failed. The programs read no module's types. With it
      // (root), no path: libbpf then parses the kernel's BTF once, not twice (a custom path
      // is parsed beside the copy it keeps for tp_btf attach points and kfuncs).
      const bool may_walk_modules = own_caps && (own_caps->effective & (1ULL << CAP_SYS_ADMIN)) != 0;
      const char* core_btf = min_btf.is_open()                               ? min_btf_path.c_str()
                             : !may_walk_modules && path_exists(kVmlinuxBtf) ? kVmlinuxBtf
                                                                             : nullptr;
      LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = core_btf);
      skel.reset(deathwatch_bpf__open_opts(&open_opts));
      if (!skel) return LoadReply{errno ? errno : EINVAL, 0, 0, true, false};
      auto& rodata = *skel->rodata;
      rodata.follow_children = request.follow_children;
      rodata.owner_uid = request.owner_uid ? static_cast<std::uint32_t>(*request.owner_uid) : DW_ANY_OWNER;
      rodata.owner_gid = request.owner_gid ? static_cast<std::uint32_t>(*request.owner_gid) : DW_ANY_OWNER;
      rodata.last_words =
          request.last_words == LastWordsPolicy::Always ? DW_LAST_WORDS_ALWAYS : DW_LAST_WORDS_ABNORMAL;
      bpf_program__set_autoload(skel->progs.on_mark_victim_task, try_task_form);
      bpf_program__set_autoload(skel->progs.on_mark_victim_pid, !try_task_form);
      bpf_program__set_autoload(skel->progs.on_signal_deliver, try_last_words);
      bpf_program__set_autoload(skel->progs.on_process_exit_capturing, try_last_words);
      bpf_program__set_autoload(skel->progs.on_process_exit, !try_last_words);
      // Without captures their ring buffer is never written: the smallest one allowed.
      if (!try_last_words) bpf_map__set_max_entries(skel->maps.last_words_events, 4096);
      err = deathwatch_bpf__load(skel.get());
      reply.task_form = try_task_form;
      reply.with_last_words = try_last_words;
      // EPERM/EACCES: no privilege, and the other form will not help.
      if (err == 0 || err == -EPERM || err == -EACCES) break;
    }
    if (err == 0 || err == -EPERM || err == -EACCES || !try_last_words) break;
  }
  if (err != 0) return LoadReply{-err, 1, 0, reply.task_form, reply.with_last_words};
  if (int attach_err = deathwatch_bpf__attach(skel.get()); attach_err != 0)
    return LoadReply{-attach_err, 2, 0, reply.task_form, reply.with_last_words};
  return reply;
}

// The helper's whole life: load, send, exit. Nothing here returns to the caller's code.
[[noreturn]] void run_helper(int sock, const KernelLoadRequest& request) {
  std::unique_ptr<deathwatch_bpf, SkeletonDeleter> skel;
  LoadReply reply = load_here(request, skel);
  std::vector<int> fds;
  if (reply.err == 0) {
    fds = {bpf_map__fd(skel->maps.events), bpf_map__fd(skel->maps.last_words_events),
           bpf_map__fd(skel->maps.watched), bpf_map__fd(skel->maps.dropped), bpf_map__fd(skel->maps.batching)};
    const bpf_object_skeleton* s = skel->skeleton;
    for (int i = 0; i < s->prog_cnt && reply.links < kMaxLinks; ++i) {
      const bpf_link* link = *s->progs[i].link;
      if (link == nullptr) continue;
      fds.push_back(bpf_link__fd(link));
      ++reply.links;
    }
  }
  struct iovec iov {&reply, sizeof reply};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  attach_fds(msg, control, fds);
  const bool sent = ::sendmsg(sock, &msg, MSG_NOSIGNAL) == static_cast<ssize_t>(sizeof reply);
  // _exit: no destructor, atexit handler or stdio flush of the watcher's runs twice. The
  // kernel closes this process's descriptors; the watcher holds its own.
  ::_exit(sent ? 0 : 1);
}

}  // namespace

Result<KernelObjects> load_kernel_objects(const KernelLoadRequest& request) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return SysError::from_errno("eBPF loader socket pair");
  ScopedFd ours(pair[0]);
  ScopedFd theirs(pair[1]);
  const pid_t helper = ::fork();
  if (helper < 0) return SysError::from_errno("eBPF loader fork");
  if (helper == 0) {
    ours.release();  // not closed here: _exit closes everything
    run_helper(theirs.get(), request);
  }
  theirs.reset();

  LoadReply reply{};
  struct iovec iov {&reply, sizeof reply};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * (kMaps + kMaxLinks))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  while ((got = ::recvmsg(ours.get(), &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
  const int recv_errno = errno;
  int status = 0;
  while (::waitpid(helper, &status, 0) < 0 && errno == EINTR) {}

  std::vector<ScopedFd> fds;
  if (got > 0)
    for (int fd : received_fds(msg)) fds.emplace_back(fd);
  if (got < 0) return SysError{"eBPF loader reply", recv_errno};
  if (got != static_cast<ssize_t>(sizeof reply) || (msg.msg_flags & MSG_CTRUNC) != 0)
    return SysError{"eBPF loader: no reply (the helper process ended with status " + std::to_string(status) + ")", 0};
  static const char* const kStages[] = {"eBPF open", "eBPF load (needs root, or CAP_BPF and CAP_PERFMON, and kernel BTF)",
                                        "eBPF attach"};
  if (reply.err != 0) return SysError{kStages[reply.stage >= 0 && reply.stage <= 2 ? reply.stage : 1], reply.err};
  if (fds.size() != static_cast<std::size_t>(kMaps + reply.links))
    return SysError{"eBPF loader: " + std::to_string(fds.size()) + " descriptors received", 0};

  KernelObjects objects;
  objects.events = std::move(fds[0]);
  objects.last_words_events = std::move(fds[1]);
  objects.watched = std::move(fds[2]);
  objects.dropped = std::move(fds[3]);
  objects.batching = std::move(fds[4]);
  for (std::size_t i = kMaps; i < fds.size(); ++i) objects.links.push_back(std::move(fds[i]));
  objects.task_form = reply.task_form;
  objects.with_last_words = reply.with_last_words;
  return objects;
}

}  // namespace deathwatch

#else  // built without eBPF support

namespace deathwatch {
Result<KernelObjects> load_kernel_objects(const KernelLoadRequest&) {
  return SysError{"this deathwatch was built without the eBPF backend", 0};
}
}  // namespace deathwatch

#endif
