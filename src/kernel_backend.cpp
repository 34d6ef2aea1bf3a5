#include "deathwatch/kernel_backend.h"

#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <vector>

#include "deathwatch/kernel_loader.h"
#include "deathwatch/procfs.h"
#include "deathwatch/signals.h"
#include "deathwatch_events.h"

#ifdef DEATHWATCH_HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#endif

namespace deathwatch {

CapturedTask captured_task(const dw_event& e) {
  CapturedTask task;
  task.start_boot_ns = e.cur_start_ns;
  task.argv_truncated = e.args_len >= DW_ARGS_LEN - 1;
  Sender& s = task.identity;
  s.source = "ebpf";
  s.uid = e.cur_uid;
  s.comm = std::string(e.cur_comm, strnlen(e.cur_comm, sizeof e.cur_comm));
  s.tid = static_cast<pid_t>(e.cur_tid);
  s.cgroup_id = e.cur_cgroup_id;
  // deathwatch runs in the initial pid namespace (open() refuses otherwise): the kernel's
  // pid is the one it sees, for senders inside containers too.
  s.pid = static_cast<pid_t>(e.cur_tgid);
  const unsigned count = std::min<unsigned>(e.ancestors, DW_ANCESTORS);
  for (unsigned i = 0; i < count; ++i)
    s.ancestry.push_back({static_cast<pid_t>(e.ancestor[i].tgid),
                          std::string(e.ancestor[i].comm, strnlen(e.ancestor[i].comm, DW_COMM_LEN))});
  if (e.args_len > 0)
    s.cmdline = split_cmdline(std::string_view(e.args, std::min<unsigned>(e.args_len, DW_ARGS_LEN)));
  return task;
}

Observation translate(const dw_event& e, const std::string& oom_hook) {
  const pid_t tgid = static_cast<pid_t>(e.target_tgid);
  const WallTime when = boot_ns_to_wall(e.boot_ns);
  switch (e.kind) {
    case DW_EVENT_OOM_VICTIM: {
      OomVictim oom;
      oom.pid = tgid;
      oom.tid = static_cast<pid_t>(e.target_tid);
      oom.time = when;
      oom.hook = oom_hook;
      if (e.total_vm_kib) {
        oom.total_vm_kib = static_cast<long long>(e.total_vm_kib);
        oom.anon_rss_kib = static_cast<long long>(e.anon_rss_kib);
        oom.file_rss_kib = static_cast<long long>(e.file_rss_kib);
        oom.shmem_rss_kib = static_cast<long long>(e.shmem_rss_kib);
      }
      oom.triggered_by = captured_task(e);
      return oom;
    }
    case DW_EVENT_FORK:
      return ProcessStarted{tgid, static_cast<pid_t>(e.parent_tgid), when};
    case DW_EVENT_EXEC: {
      ProcessExeced exec{tgid, std::nullopt, std::nullopt};
      exec.argv = split_cmdline(std::string_view(e.args, std::min<unsigned>(e.args_len, DW_ARGS_LEN)));
      // The path execve was given, as the kernel saw it (the process may be gone by now).
      const std::string filename(e.filename, strnlen(e.filename, sizeof e.filename));
      if (!filename.empty()) exec.path = filename;
      return exec;
    }
    case DW_EVENT_EXIT:
      return ProcessEnded{tgid, WaitStatus::decode(e.exit_code, false), when, std::nullopt, false};
    default:
      break;
  }
  SignalSeen seen;
  seen.time = when;
  seen.pid = tgid;
  seen.tid = static_cast<pid_t>(e.target_tid);
  seen.signo = e.sig;
  seen.code = e.code;
  const SignalOrigin origin = classify_origin(e.sig, e.code);
  if (origin == SignalOrigin::Fault) seen.fault_address = e.fault_addr;
  seen.group = e.group != 0;
  seen.kernel_result = e.result;
  switch (e.action) {
    case DW_ACTION_DEFAULT: seen.disposition = Disposition::Default; break;
    case DW_ACTION_IGNORE: seen.disposition = Disposition::Ignored; break;
    case DW_ACTION_HANDLER: seen.disposition = Disposition::Handled; break;
    default: break;
  }
  // TRACE_SIGNAL_IGNORED: discarded at once (SIG_IGN, or a default action of ignoring such
  // as SIGCHLD's).
  if (e.result == 1 && seen.disposition == Disposition::Unknown) seen.disposition = Disposition::Ignored;
  if (origin_names_sender(origin)) {
    SignalSender sender{static_cast<pid_t>(e.cur_tgid), e.cur_uid, {}};
    // Its own signal needs no identity: the recorder knows the receiver already.
    if (sender.pid != tgid) sender.captured = captured_task(e);
    seen.sender = std::move(sender);
  }
  return seen;
}

std::chrono::system_clock::time_point boot_ns_to_wall(std::uint64_t boot_ns) {
  struct timespec ts {};
  ::clock_gettime(CLOCK_BOOTTIME, &ts);
  const std::uint64_t now_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL + ts.tv_nsec;
  const auto age = std::chrono::nanoseconds(now_ns > boot_ns ? now_ns - boot_ns : 0);
  return std::chrono::system_clock::now() -
         std::chrono::duration_cast<std::chrono::system_clock::duration>(age);
}

#ifdef DEATHWATCH_HAVE_BPF

namespace {

struct RingBufferDeleter {
  void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
};

int silent_libbpf(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_WARN && std::getenv("DEATHWATCH_BPF_DEBUG")) return vfprintf(stderr, format, args);
  return 0;
}

}  // namespace

struct KernelBackend::State {
  KernelObjects objects;  // maps and links, loaded by a helper process (kernel_loader.h)
  MappedFileLocator files;
  std::unique_ptr<ring_buffer, RingBufferDeleter> ring;
  std::vector<std::vector<std::uint8_t>> pending;  // records of one drain, both rings
  std::string oom_hook;

  // One record, as an observation.
  void dispatch(const std::vector<std::uint8_t>& record, Observer& observer) {
    const auto* event = reinterpret_cast<const dw_event*>(record.data());
    if (event->kind == DW_EVENT_LAST_WORDS) {
      if (record.size() >= sizeof(dw_last_words))
        observer.observe(DeathCaptured{translate_last_words(*reinterpret_cast<const dw_last_words*>(record.data()), files), true});
      return;
    }
    Observation o = translate(*event, oom_hook);
    if (const auto* exec = std::get_if<ProcessExeced>(&o)) {
      // For last words after the process is gone: its executable, and where its
      // libraries are likely to be.
      if (auto exe = read_link("/proc/" + std::to_string(exec->pid) + "/exe")) files.learn_executable(*exe);
      if (exec->path) files.learn_executable(*exec->path);
    }
    observer.observe(o);
  }
};

KernelBackend::KernelBackend(std::unique_ptr<State> state) : state_(std::move(state)) {}
KernelBackend::~KernelBackend() = default;

Result<KernelLoad> KernelBackend::start_loading(bool follow_children, LastWordsPolicy last_words,
                                                std::optional<Owner> owner) {
  if (const char* off = std::getenv("DEATHWATCH_NO_BPF"); off && *off && std::string(off) != "0")
    return SysError{"disabled by DEATHWATCH_NO_BPF", 0};
  libbpf_set_print(silent_libbpf);
  // The programs match watched processes by their pids in the initial pid namespace. From a
  // container's namespace deathwatch would never see its target's signals: refuse rather
  // than report an active backend that misses everything.
  constexpr ino_t kInitialPidNamespaceInode = 0xEFFFFFFCU;  // PROC_PID_INIT_INO
  struct stat own_ns {};
  if (::stat("/proc/self/ns/pid", &own_ns) == 0 && own_ns.st_ino != kInitialPidNamespaceInode)
    return SysError{"deathwatch runs in a child pid namespace; the eBPF backend needs the initial one", 0};

  KernelLoadRequest request;
  request.follow_children = follow_children;
  request.last_words = last_words;
  if (owner) {
    request.owner_uid = owner->uid;
    request.owner_gid = owner->gid;
  }
  return KernelLoad::start(request);
}

Result<std::unique_ptr<KernelBackend>> KernelBackend::open(Result<KernelLoad> loading, LastWordsPolicy last_words) {
  if (!loading) return loading.error();
  auto loaded = loading->finish();
  if (!loaded) return loaded.error();
  auto state = std::make_unique<State>();
  state->objects = std::move(*loaded);
  const bool with_last_words = state->objects.with_last_words;

  State* raw = state.get();
  // Both ring buffers, signals and last words, are read through one ring_buffer (one epoll
  // fd). Each ring is in order, but libbpf drains them one after the other: the records are
  // collected and handed on in the kernel's order (boot_ns, the first field of both), or a
  // capture would be seen before the exec that preceded it, or after the exit that follows it.
  const ring_buffer_sample_fn on_event = [](void* ctx, void* data, size_t size) -> int {
    auto* s = static_cast<State*>(ctx);
    if (size < DW_EVENT_HEAD_SIZE) return 0;
    // A head-only record (DW_EVENT_HEAD_SIZE) reads as a whole dw_event with a zeroed tail.
    const auto* bytes = static_cast<const std::uint8_t*>(data);
    auto& record = s->pending.emplace_back(std::max(size, sizeof(dw_event)), std::uint8_t{0});
    std::copy(bytes, bytes + size, record.begin());
    return 0;
  };
  if (with_last_words) {
    state->ring.reset(ring_buffer__new(state->objects.last_words_events.get(), on_event, raw, nullptr));
    if (state->ring && ring_buffer__add(state->ring.get(), state->objects.events.get(), on_event, raw) != 0)
      return SysError::from_errno("eBPF ring buffer");
  } else {
    state->ring.reset(ring_buffer__new(state->objects.events.get(), on_event, raw, nullptr));
  }
  if (!state->ring) return SysError::from_errno("eBPF ring buffer");

  state->oom_hook = "raw_tp/mark_victim";
  std::unique_ptr<KernelBackend> backend(new KernelBackend(std::move(state)));
  backend->oom_hook_ = raw->oom_hook;
  backend->last_words_active_ = with_last_words;
  backend->last_words_hook_ = with_last_words ? "tp_btf/signal_deliver, tp_btf/sched_process_exit (6.16+ form)"
                              : last_words == LastWordsPolicy::Never
                                  ? "off (--last-words=never)"
                                  : "unavailable: this kernel refused the capture programs (they need bpf_iter_task_vma, 6.7, and the 6.16 sched_process_exit)";
  return backend;
}

Status KernelBackend::watch(pid_t tgid) {
  const std::uint32_t key = static_cast<std::uint32_t>(tgid);
  const std::uint8_t one = 1;
  if (bpf_map_update_elem(state_->objects.watched.get(), &key, &one, BPF_ANY) != 0)
    return SysError::from_errno("eBPF watch " + std::to_string(tgid));
  return Ok{};
}

int KernelBackend::event_fd() const { return ring_buffer__epoll_fd(state_->ring.get()); }

void KernelBackend::set_batching(bool on) {
  const std::uint32_t key = 0, value = on ? 1 : 0;
  // A failure only costs wake-ups (or, off, a record collected at the next wake-up).
  (void)bpf_map_update_elem(state_->objects.batching.get(), &key, &value, BPF_ANY);
}

std::size_t KernelBackend::consume(Observer& observer) {
  auto& pending = state_->pending;
  pending.clear();
  // A second drain when the first found anything: a capture committed while the first was
  // past its ring comes with the exit event that follows it.
  for (int round = 0; round < 2; ++round) {
    const std::size_t before = pending.size();
    ring_buffer__consume(state_->ring.get());
    if (pending.size() == before) break;
  }
  auto boot_ns = [](const std::vector<std::uint8_t>& r) { return reinterpret_cast<const dw_event*>(r.data())->boot_ns; };
  std::stable_sort(pending.begin(), pending.end(),
                   [&](const auto& a, const auto& b) { return boot_ns(a) < boot_ns(b); });
  for (const auto& record : pending) state_->dispatch(record, observer);
  const std::size_t count = pending.size();
  pending.clear();
  return count;
}

std::uint64_t KernelBackend::dropped() const { return dropped_in(DW_DROPPED_EVENTS); }
std::uint64_t KernelBackend::last_words_dropped() const { return dropped_in(DW_DROPPED_LAST_WORDS); }

std::uint64_t KernelBackend::dropped_in(std::uint32_t ring) const {
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return 0;
  std::vector<std::uint64_t> values(static_cast<std::size_t>(cpus));
  if (bpf_map_lookup_elem(state_->objects.dropped.get(), &ring, values.data()) != 0)
    return 0;
  std::uint64_t total = 0;
  for (auto v : values) total += v;
  return total;
}

#else  // built without eBPF support

struct KernelBackend::State {};
KernelBackend::KernelBackend(std::unique_ptr<State> state) : state_(std::move(state)) {}
KernelBackend::~KernelBackend() = default;
Result<KernelLoad> KernelBackend::start_loading(bool, LastWordsPolicy, std::optional<Owner>) {
  return SysError{"this deathwatch was built without the eBPF backend", 0};
}
Result<std::unique_ptr<KernelBackend>> KernelBackend::open(Result<KernelLoad> loading, LastWordsPolicy) {
  if (!loading) return loading.error();
  return SysError{"this deathwatch was built without the eBPF backend", 0};
}
Status KernelBackend::watch(pid_t) { return SysError{"no eBPF backend", 0}; }
int KernelBackend::event_fd() const { return -1; }
std::size_t KernelBackend::consume(Observer&) { return 0; }
void KernelBackend::set_batching(bool) {}
std::uint64_t KernelBackend::dropped() const { return 0; }
std::uint64_t KernelBackend::last_words_dropped() const { return 0; }

#endif

}  // namespace deathwatch
