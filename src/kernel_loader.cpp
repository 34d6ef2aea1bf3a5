#include "deathwatch/kernel_loader.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <string>
#include <functional>
#include <future>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "deathwatch/btf_stand_in.h"
#include "deathwatch/passed_fds.h"
#include "deathwatch/privileges.h"
#include "deathwatch/procfs.h"
#include "deathwatch_events.h"

#ifdef DEATHWATCH_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "deathwatch.skel.h"
#include "last_words.skel.h"
#include "deathwatch_min_btf.h"

namespace deathwatch {
namespace {
constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";
}  // namespace
}  // namespace deathwatch

namespace deathwatch {
namespace {
// Set by a thread about to load an object whose CO-RE relocations go to a BTF of their own
// (btf_custom_path): a stand-in for the kernel's BTF, made for that object (btf_stand_in.h).
// libbpf asks for the kernel's BTF from the loading thread itself.
thread_local const std::vector<std::uint8_t>* t_stand_in = nullptr;

struct MappedFile {
  void* data = MAP_FAILED;
  std::size_t size = 0;
  ~MappedFile() {
    if (data != MAP_FAILED) ::munmap(data, size);
  }
};

bool map_vmlinux_btf(MappedFile& mapped) {
  ScopedFd file(::open(kVmlinuxBtf, O_RDONLY | O_CLOEXEC));
  struct stat st {};
  if (!file.is_open() || ::fstat(file.get(), &st) != 0 || st.st_size <= 0 || st.st_size >= (1LL << 31)) return false;
  mapped.size = static_cast<std::size_t>(st.st_size);
  mapped.data = ::mmap(nullptr, mapped.size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, file.get(), 0);
  return mapped.data != MAP_FAILED;
}
}  // namespace
}  // namespace deathwatch

#ifdef DEATHWATCH_WRAP_VMLINUX_BTF
// libbpf 1.1 reads /sys/kernel/btf/vmlinux with read(2), which sysfs serves one page at a
// time: for a 5.5 MB BTF, 1,350 system calls and copies, about 7 ms of the load. Since 6.16
// the file can be mapped instead. The linker sends libbpf's own call here (-Wl,--wrap,
// CMakeLists.txt); libbpf copies and parses the mapped bytes as it would the ones it read,
// or the stand-in the loading thread made. Where the file cannot be mapped (older kernels),
// libbpf's own reader, as before.
extern "C" {
struct btf* __real_btf__load_vmlinux_btf(void);
struct btf* __wrap_btf__load_vmlinux_btf(void) {
  if (const auto* stand_in = deathwatch::t_stand_in)
    if (struct btf* btf = btf__new(stand_in->data(), static_cast<__u32>(stand_in->size()))) return btf;
  deathwatch::MappedFile mapped;
  if (deathwatch::map_vmlinux_btf(mapped))
    if (struct btf* btf = btf__new(mapped.data, static_cast<__u32>(mapped.size))) return btf;
  return __real_btf__load_vmlinux_btf();
}
}
#endif

namespace deathwatch {
namespace {

constexpr int kMaps = 5;  // map descriptors sent, before the links
constexpr int kMaxLinks = 16;

struct CoreDeleter {
  void operator()(deathwatch_bpf* skel) const { deathwatch_bpf__destroy(skel); }
};
struct CaptureDeleter {
  void operator()(last_words_bpf* skel) const { last_words_bpf__destroy(skel); }
};
using CoreSkeleton = std::unique_ptr<deathwatch_bpf, CoreDeleter>;
using CaptureSkeleton = std::unique_ptr<last_words_bpf, CaptureDeleter>;

// The helper's answer, followed in the same message by the descriptors: events,
// last_words_events, watched, dropped, batching, then `links` link descriptors.
struct LoadReply {
  int err;     // 0, or a positive errno
  int stage;   // where it failed: 0 open, 1 load, 2 attach
  int links;
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

struct LinkDeleter {
  void operator()(bpf_link* link) const { bpf_link__destroy(link); }
};
using Link = std::unique_ptr<bpf_link, LinkDeleter>;

// A map both objects use, created once by name.
struct SharedMap {
  std::string name;
  ScopedFd fd;
};

// What the helper holds until its answer is sent: the two objects, the maps they share, and
// the links of what was attached.
struct Loaded {
  CoreSkeleton core;
  CaptureSkeleton capture;  // empty without the capture programs
  std::vector<SharedMap> maps;
  std::vector<Link> links;
};

// Both objects' read-only configuration (each has its own .rodata).
template <typename Rodata>
void configure(Rodata& rodata, const KernelLoadRequest& request) {
  rodata.follow_children = request.follow_children;
  rodata.owner_uid = request.owner_uid ? static_cast<std::uint32_t>(*request.owner_uid) : DW_ANY_OWNER;
  rodata.owner_gid = request.owner_gid ? static_cast<std::uint32_t>(*request.owner_gid) : DW_ANY_OWNER;
  rodata.last_words =
      request.last_words == LastWordsPolicy::Always ? DW_LAST_WORDS_ALWAYS : DW_LAST_WORDS_ABNORMAL;
}

CoreSkeleton open_core(const KernelLoadRequest& request, const char* core_btf) {
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = core_btf);
  CoreSkeleton skel(deathwatch_bpf__open_opts(&open_opts));
  if (!skel) return skel;
  configure(*skel->rodata, request);
  // Without captures their ring buffer is never written: the smallest one allowed.
  if (request.last_words == LastWordsPolicy::Never) bpf_map__set_max_entries(skel->maps.last_words_events, 4096);
  return skel;
}

CaptureSkeleton open_capture(const KernelLoadRequest& request, const char* core_btf) {
  LIBBPF_OPTS(bpf_object_open_opts, open_opts, .btf_custom_path = core_btf);
  CaptureSkeleton skel(last_words_bpf__open_opts(&open_opts));
  if (skel) configure(*skel->rodata, request);
  return skel;
}

// Creates the maps of `obj` (the core object, which declares them all) once, for both objects
// to use: the records of both go to the same rings, and the watched set is one. The names are
// kept here, before any reuse: bpf_map__reuse_fd renames a map to the kernel's name of the
// descriptor, cut to 15 characters (last_words_even...).
int create_shared_maps(bpf_object* obj, std::vector<SharedMap>& maps) {
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (bpf_map__is_internal(map)) continue;
    LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = bpf_map__map_flags(map));
    const int fd = bpf_map_create(bpf_map__type(map), bpf_map__name(map), bpf_map__key_size(map),
                                  bpf_map__value_size(map), bpf_map__max_entries(map), &opts);
    if (fd < 0) return -errno;
    maps.push_back(SharedMap{bpf_map__name(map), ScopedFd(fd)});
  }
  return 0;
}

// Points every map `obj` declares at the shared one of the same name. The object's .rodata
// stays its own.
int reuse_shared_maps(bpf_object* obj, const std::vector<SharedMap>& maps) {
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    if (bpf_map__is_internal(map)) continue;
    const std::string name = bpf_map__name(map);
    const SharedMap* shared = nullptr;
    for (const auto& candidate : maps)
      if (candidate.name == name) shared = &candidate;
    if (shared == nullptr) return -ENOENT;
    if (int err = bpf_map__reuse_fd(map, shared->fd.get()); err != 0) return err;
  }
  return 0;
}

// What libbpf will look up in the kernel's BTF to load `obj`: the typedef of each tp_btf
// program's attach point, and the kfuncs the object calls. By the time the object is open,
// libbpf has made its extern functions global ones like the object's own: every global
// function is a candidate, and the stand-in keeps those the kernel has.
BtfLookups kernel_btf_lookups(bpf_object* obj) {
  BtfLookups lookups;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    const std::string section = bpf_program__section_name(prog);
    if (bpf_program__autoload(prog) && section.rfind("tp_btf/", 0) == 0)
      lookups.typedefs.push_back("btf_trace_" + section.substr(7));
  }
  const struct btf* btf = bpf_object__btf(obj);
  for (__u32 id = 1; btf != nullptr && id < btf__type_cnt(btf); ++id) {
    const btf_type* t = btf__type_by_id(btf, id);
    if (btf_is_func(t) && btf_vlen(t) != BTF_FUNC_STATIC)  // a FUNC's vlen is its linkage
      lookups.functions.emplace_back(btf__name_by_offset(btf, t->name_off));
  }
  return lookups;
}

// The stand-in for the kernel's BTF that `obj` needs, or nothing (libbpf then reads the real
// one). Only for vmlinux's own names: should libbpf miss a kfunc in it, it would look in the
// modules' BTF, parsed on top of the stand-in with ids counted from it, and find nothing
// right; the load then fails and is made again against the real BTF (load_capture).
std::optional<std::vector<std::uint8_t>> stand_in_for(bpf_object* obj) {
  MappedFile mapped;
  if (!map_vmlinux_btf(mapped)) return std::nullopt;
  return make_btf_stand_in({static_cast<const std::uint8_t*>(mapped.data), mapped.size}, kernel_btf_lookups(obj));
}

// Loads the capture object, with a stand-in for the kernel's BTF where its CO-RE relocations
// have a BTF of their own (`core_btf`). The object is opened and its stand-in made while the
// core object's maps are created (`shared_maps`: nullptr when that failed). Should the load
// fail with the stand-in, the object is made again from scratch and loaded against the real
// BTF: a stand-in may only ever cost time.
int load_capture(const KernelLoadRequest& request, const char* core_btf,
                 std::shared_future<const std::vector<SharedMap>*> shared_maps, CaptureSkeleton& capture) {
  capture = open_capture(request, core_btf);
  if (!capture) return errno ? -errno : -EINVAL;
#ifdef DEATHWATCH_WRAP_VMLINUX_BTF
  const auto stand_in = core_btf != nullptr ? stand_in_for(capture->obj) : std::nullopt;
#else
  const std::optional<std::vector<std::uint8_t>> stand_in;  // libbpf's own loader cannot be given one
#endif
  const std::vector<SharedMap>* maps = shared_maps.get();
  if (maps == nullptr) return -ECANCELED;
  if (int err = reuse_shared_maps(capture->obj, *maps); err != 0) return err;
  t_stand_in = stand_in ? &*stand_in : nullptr;
  const int err = last_words_bpf__load(capture.get());
  t_stand_in = nullptr;
  if (err == 0 || err == -EPERM || !stand_in) return err;  // no privilege: no BTF helps
  capture = open_capture(request, core_btf);
  if (!capture) return errno ? -errno : -EINVAL;
  if (int reuse_err = reuse_shared_maps(capture->obj, *maps); reuse_err != 0) return reuse_err;
  return last_words_bpf__load(capture.get());
}

// Attaches every loaded program of `obj` but `except`.
int attach_loaded(bpf_object* obj, const bpf_program* except, std::vector<Link>& links) {
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (!bpf_program__autoload(prog) || prog == except) continue;
    Link link(bpf_program__attach(prog));
    if (!link) return -errno;
    links.push_back(std::move(link));
  }
  return 0;
}

// The load proper, in the helper: open -> read-only configuration -> shared maps -> load
// (both objects at once) -> attach. The capture programs need the open-coded VMA iterator
// (6.7) and the 6.16 sched_process_exit: on a kernel without them, the core runs alone.
LoadReply load_here(const KernelLoadRequest& request, Loaded& loaded) {
  auto own_caps = read_own_capabilities();
  const ScopedFd min_btf = matching_min_btf();
  const std::string min_btf_path = "/proc/self/fd/" + std::to_string(min_btf.get());
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
  // The capture object (the one that needs the kernel's BTF beyond CO-RE) is opened and
  // loaded on another CPU meanwhile, with the maps this thread creates.
  std::promise<const std::vector<SharedMap>*> maps_created;
  int capture_err = -ENOENT;
  std::jthread capture_load;
  if (request.last_words != LastWordsPolicy::Never)
    capture_load = std::jthread([&, shared = maps_created.get_future().share()] {
      capture_err = load_capture(request, core_btf, shared, loaded.capture);
    });
  // Every way out of here tells the capture thread, which then ends (joined on the way out).
  bool maps_told = false;
  auto tell_maps = [&](const std::vector<SharedMap>* maps) {
    if (!std::exchange(maps_told, true)) maps_created.set_value(maps);
  };
  struct Teller {
    std::function<void()> tell;
    ~Teller() { tell(); }
  } teller{[&] { tell_maps(nullptr); }};
  const int err = [&] {
    loaded.core = open_core(request, core_btf);
    if (!loaded.core) return errno ? -errno : -EINVAL;
    if (int create_err = create_shared_maps(loaded.core->obj, loaded.maps); create_err != 0) return create_err;
    if (int reuse_err = reuse_shared_maps(loaded.core->obj, loaded.maps); reuse_err != 0) return reuse_err;
    tell_maps(&loaded.maps);
    return deathwatch_bpf__load(loaded.core.get());
  }();
  tell_maps(nullptr);
  if (capture_load.joinable()) capture_load.join();
  if (err != 0) return LoadReply{-err, loaded.core ? 1 : 0, 0, false};
  const bool with_last_words = capture_err == 0;
  if (!with_last_words) loaded.capture.reset();

  // One exit program: the capturing one where it loaded, else the core's.
  const bpf_program* unused_exit = with_last_words ? loaded.core->progs.on_process_exit : nullptr;
  if (int attach_err = attach_loaded(loaded.core->obj, unused_exit, loaded.links); attach_err != 0)
    return LoadReply{-attach_err, 2, 0, with_last_words};
  if (loaded.capture)
    if (int attach_err = attach_loaded(loaded.capture->obj, nullptr, loaded.links); attach_err != 0)
      return LoadReply{-attach_err, 2, 0, with_last_words};
  return LoadReply{0, 0, 0, with_last_words};
}

// The helper's whole life: load, send, exit. Nothing here returns to the caller's code.
[[noreturn]] void run_helper(int sock, const KernelLoadRequest& request) {
  Loaded loaded;
  LoadReply reply = load_here(request, loaded);
  std::vector<int> fds;
  if (reply.err == 0) {
    auto& maps = loaded.core->maps;  // the shared descriptors (reused by both objects)
    fds = {bpf_map__fd(maps.events), bpf_map__fd(maps.last_words_events), bpf_map__fd(maps.watched),
           bpf_map__fd(maps.dropped), bpf_map__fd(maps.batching)};
    for (const auto& link : loaded.links) {
      if (reply.links >= kMaxLinks) break;
      fds.push_back(bpf_link__fd(link.get()));
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

Result<KernelLoad> KernelLoad::start(const KernelLoadRequest& request) {
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
  return KernelLoad(std::move(ours), helper);
}

KernelLoad::KernelLoad(KernelLoad&& other) noexcept
    : socket_(std::move(other.socket_)), helper_(std::exchange(other.helper_, -1)) {}

KernelLoad& KernelLoad::operator=(KernelLoad&& other) noexcept {
  if (this != &other) {
    reap(true);
    socket_ = std::move(other.socket_);
    helper_ = std::exchange(other.helper_, -1);
  }
  return *this;
}

KernelLoad::~KernelLoad() { reap(true); }

void KernelLoad::reap(bool kill_first) {
  if (helper_ <= 0) return;
  if (kill_first) ::kill(helper_, SIGKILL);
  int status = 0;
  while (::waitpid(helper_, &status, 0) < 0 && errno == EINTR) {}
  helper_ = -1;
}

Result<KernelObjects> KernelLoad::finish() {
  if (helper_ <= 0) return SysError{"eBPF loader: already collected", 0};
  LoadReply reply{};
  struct iovec iov {&reply, sizeof reply};
  struct msghdr msg {};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * (kMaps + kMaxLinks))];
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  while ((got = ::recvmsg(socket_.get(), &msg, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR) {}
  const int recv_errno = errno;
  const pid_t helper = helper_;
  reap(false);
  socket_.reset();

  std::vector<ScopedFd> fds;
  if (got > 0)
    for (int fd : received_fds(msg)) fds.emplace_back(fd);
  if (got < 0) return SysError{"eBPF loader reply", recv_errno};
  if (got != static_cast<ssize_t>(sizeof reply) || (msg.msg_flags & MSG_CTRUNC) != 0)
    return SysError{"eBPF loader: no reply from the helper process (pid " + std::to_string(helper) + ")", 0};
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
  objects.with_last_words = reply.with_last_words;
  return objects;
}

Result<KernelObjects> load_kernel_objects(const KernelLoadRequest& request) {
  auto load = KernelLoad::start(request);
  if (!load) return load.error();
  return load->finish();
}

}  // namespace deathwatch

#else  // built without eBPF support

namespace deathwatch {
Result<KernelLoad> KernelLoad::start(const KernelLoadRequest&) {
  return SysError{"this deathwatch was built without the eBPF backend", 0};
}
KernelLoad::KernelLoad(KernelLoad&& other) noexcept
    : socket_(std::move(other.socket_)), helper_(std::exchange(other.helper_, -1)) {}
KernelLoad& KernelLoad::operator=(KernelLoad&& other) noexcept {
  socket_ = std::move(other.socket_);
  helper_ = std::exchange(other.helper_, -1);
  return *this;
}
KernelLoad::~KernelLoad() = default;
void KernelLoad::reap(bool) {}
Result<KernelObjects> KernelLoad::finish() {
  return SysError{"this deathwatch was built without the eBPF backend", 0};
}
Result<KernelObjects> load_kernel_objects(const KernelLoadRequest&) {
  return SysError{"this deathwatch was built without the eBPF backend", 0};
}
}  // namespace deathwatch

#endif
