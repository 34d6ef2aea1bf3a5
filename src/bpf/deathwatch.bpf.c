// Kernel side of deathwatch's eBPF backend: every signal generated for a watched process,
// with its sender captured in the sender's own context (so a `kill` that exits a
// microsecond later is still named), and the OOM killer's choice of victim.
//
// Filtering happens here: processes outside the `watched` map cost one hash lookup.
#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "deathwatch_events.h"

char LICENSE[] SEC("license") = "GPL";

#define DW_EVENTS_RING (1 << 20)

// Read-only configuration, set by user space between open and load.
const volatile bool follow_children = false;
const volatile unsigned int last_words = DW_LAST_WORDS_ABNORMAL;  // enum dw_last_words_policy
// The caller's uid when deathwatch runs for a user who is not root (DW_ANY_OWNER for root).
const volatile unsigned int owner_uid = DW_ANY_OWNER;
const volatile unsigned int owner_gid = DW_ANY_OWNER;  // the caller's real gid

// Not preallocated: 65,536 preallocated entries took 8 ms of every start and 4 MiB of
// kernel memory charged to deathwatch's memory cgroup, for the handful a run watches.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, u32);   // tgid
  __type(value, u8);
} watched SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  // 1 MiB: ~8,700 head-only records (a storm of self-sent signals) or ~1,700 with a sender's
  // full identity. Its pages count twice in deathwatch's RSS (user space maps the data area
  // twice, and all of it at once): at 16 MiB deathwatch had 40 MiB of RSS and was the OOM
  // killer's choice, instead of the command, in a 64 MiB memory cgroup.
  __uint(max_entries, DW_EVENTS_RING);
} events SEC(".maps");

// Events that found their ring buffer full (user space reports them; never silently lost):
// [DW_DROPPED_EVENTS] the events ring, [DW_DROPPED_LAST_WORDS] the last-words ring.
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 2);
  __type(key, u32);
  __type(value, u64);
} dropped SEC(".maps");

#define SEND_SIG_NOINFO_PTR 0UL
#define SEND_SIG_PRIV_PTR 1UL
#define SI_USER_CODE 0
#define SI_KERNEL_CODE 0x80

static __always_inline bool is_watched(u32 tgid) {
  return bpf_map_lookup_elem(&watched, &tgid) != NULL;
}

// Whether the caller owns `task`: its real, effective and saved uids and gids are all the
// caller's, as the kernel's rule for ptrace wants them. A set-user-ID or set-group-ID
// descendant belongs to someone else: what is sent to it, its last words and its OOM death
// are not the caller's to read. (The rule's other conditions, dumpability and a capability
// subset, are not checked here; see README.)
static __always_inline bool owned(struct task_struct* task) {
  if (owner_uid == DW_ANY_OWNER) return true;
  const struct cred* cred = BPF_CORE_READ(task, real_cred);
  return BPF_CORE_READ(cred, uid.val) == owner_uid && BPF_CORE_READ(cred, euid.val) == owner_uid &&
         BPF_CORE_READ(cred, suid.val) == owner_uid && BPF_CORE_READ(cred, gid.val) == owner_gid &&
         BPF_CORE_READ(cred, egid.val) == owner_gid && BPF_CORE_READ(cred, sgid.val) == owner_gid;
}

// Set by user space (element 0 = 1) while it collects a burst in batches, once a period.
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u32);
} batching SEC(".maps");

// Wake-up policy for events that can wait. Idle, deathwatch has no timer: a record wakes it.
// Once it batches (a burst began), records wait for its next collection, unless the ring is
// a quarter full (a storm): then it is woken at once, so nothing is dropped.
static __always_inline u64 lazy_wakeup(void) {
  if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > DW_EVENTS_RING / 4) return BPF_RB_FORCE_WAKEUP;
  u32 key = 0;
  u32* batched = bpf_map_lookup_elem(&batching, &key);
  return batched && *batched ? BPF_RB_NO_WAKEUP : BPF_RB_FORCE_WAKEUP;
}

static __always_inline void count_drop_in(u32 ring) {
  u64* n = bpf_map_lookup_elem(&dropped, &ring);
  if (n) *n += 1;
}

static __always_inline void count_drop(void) { count_drop_in(DW_DROPPED_EVENTS); }

// A zeroed event about `task`, or NULL (counted in `dropped`) when the ring buffer is full:
// `size` is sizeof(struct dw_event), or DW_EVENT_HEAD_SIZE for a record without identity.
static __always_inline struct dw_event* new_event_of(u32 size, u32 kind, struct task_struct* task) {
  struct dw_event* e = bpf_ringbuf_reserve(&events, size, 0);
  if (!e) {
    count_drop();
    return NULL;
  }
  __builtin_memset(e, 0, size);
  e->boot_ns = bpf_ktime_get_boot_ns();
  e->kind = kind;
  e->target_tid = BPF_CORE_READ(task, pid);
  e->target_tgid = BPF_CORE_READ(task, tgid);
  return e;
}

static __always_inline struct dw_event* new_event(u32 kind, struct task_struct* task) {
  return new_event_of(sizeof(struct dw_event), kind, task);
}

static __always_inline struct dw_event* new_head_event(u32 kind, struct task_struct* task) {
  return new_event_of(DW_EVENT_HEAD_SIZE, kind, task);
}

// Pre-6.2 kernels keep RSS counters in struct mm_rss_stat (atomic_long_t count[]).
struct mm_rss_stat___old {
  atomic_long_t count[4];
};
struct mm_struct___old {
  struct mm_rss_stat___old rss_stat;
} __attribute__((preserve_access_index));

static __always_inline u64 mm_counter_kib(struct mm_struct* mm, int member) {
  long pages = 0;
  if (bpf_core_type_exists(struct mm_rss_stat___old)) {
    struct mm_struct___old* old = (void*)mm;
    pages = BPF_CORE_READ(old, rss_stat.count[member].counter);
  } else {
    pages = BPF_CORE_READ(mm, rss_stat[member].count);
  }
  return pages > 0 ? (u64)pages * 4 : 0;  // 4 KiB pages
}

// The current task: sender, bystander or OOM trigger. Everything is read now, in its context.
// What of the current task to capture beyond its ids and comm: the rest is only read when it
// means something (a process's signal to another; an OOM trigger; an exec's new argv), so a
// storm of self-signals or SIGCHLDs stays cheap.
#define DW_ANCESTRY 1
#define DW_ARGS 2
static __always_inline void fill_current(struct dw_event* e, int identity) {
  struct task_struct* cur = bpf_get_current_task_btf();
  u64 pid_tgid = bpf_get_current_pid_tgid();
  e->cur_tid = (u32)pid_tgid;
  e->cur_tgid = pid_tgid >> 32;
  e->cur_uid = (u32)bpf_get_current_uid_gid();
  e->cur_start_ns = BPF_CORE_READ(cur, group_leader, start_boottime);
  e->cur_cgroup_id = bpf_get_current_cgroup_id();
  // The process's name (its thread group leader's), not the sending thread's: a thread may
  // have renamed itself (PR_SET_NAME), and the certificate names processes.
  struct task_struct* leader = BPF_CORE_READ(cur, group_leader);
  if (!leader || bpf_probe_read_kernel_str(e->cur_comm, sizeof e->cur_comm, &leader->comm) < 0)
    bpf_get_current_comm(e->cur_comm, sizeof e->cur_comm);
  e->ancestors = 0;
  e->args_len = 0;
  if (identity & DW_ANCESTRY) {
  struct task_struct* parent = BPF_CORE_READ(cur, real_parent);
  for (int i = 0; i < DW_ANCESTORS; i++) {
    if (!parent) break;
    u32 tgid = BPF_CORE_READ(parent, tgid);
    if (tgid == 0) break;
    e->ancestor[i].tgid = tgid;
    // real_parent is the thread that forked: name its process (the group leader).
    struct task_struct* parent_leader = BPF_CORE_READ(parent, group_leader);
    bpf_probe_read_kernel_str(e->ancestor[i].comm, DW_COMM_LEN,
                              parent_leader ? (void*)&parent_leader->comm : (void*)&parent->comm);
    e->ancestors = i + 1;
    if (tgid == 1) break;
    parent = BPF_CORE_READ(parent, real_parent);
  }
  }
  if (!(identity & DW_ARGS)) return;

  // The start of argv, from the sender's own memory (it is current, so this is its mm).
  struct mm_struct* mm = BPF_CORE_READ(cur, mm);
  if (mm) {
    unsigned long start = BPF_CORE_READ(mm, arg_start);
    unsigned long end = BPF_CORE_READ(mm, arg_end);
    unsigned long len = end > start ? end - start : 0;
    if (len > DW_ARGS_LEN - 1) len = DW_ARGS_LEN - 1;
    len &= DW_ARGS_LEN - 1;  // a bound the verifier can see
    if (len > 0 && bpf_probe_read_user(e->args, len, (void*)start) == 0) e->args_len = len;
  }
}

#include "last_words.bpf.h"

// The signal's own fields, in a record of either size.
static __always_inline void fill_signal(struct dw_event* e, struct task_struct* task, u32 tgid, int sig,
                                        int code, u64 fault_addr, int group, int result) {
  e->boot_ns = bpf_ktime_get_boot_ns();
  e->kind = DW_EVENT_SIGNAL;
  e->target_tid = BPF_CORE_READ(task, pid);
  e->target_tgid = tgid;
  e->sig = sig;
  e->code = code;
  e->group = group;
  e->result = result;
  e->fault_addr = fault_addr;
  e->parent_tgid = 0;
  e->exit_code = 0;
  e->action = DW_ACTION_UNKNOWN;
  if (sig >= 1 && sig <= 64) {
    // The receiver's action now (the sighand lock is held here): SIG_DFL, SIG_IGN or a handler.
    struct sighand_struct* sighand = BPF_CORE_READ(task, sighand);
    unsigned long handler = 0;
    if (sighand &&
        bpf_probe_read_kernel(&handler, sizeof handler, &sighand->action[(sig - 1) & 63].sa.sa_handler) == 0)
      e->action = handler == 0 ? DW_ACTION_DEFAULT : handler == 1 ? DW_ACTION_IGNORE : DW_ACTION_HANDLER;
  }
}

SEC("tp_btf/signal_generate")
int BPF_PROG(on_signal_generate, int sig, struct kernel_siginfo* info, struct task_struct* task,
             int group, int result) {
  u32 tgid = BPF_CORE_READ(task, tgid);
  if (!is_watched(tgid) || !owned(task)) return 0;
  int code = SI_USER_CODE;  // SEND_SIG_NOINFO: the kernel fills si_pid/si_uid from current
  u64 fault_addr = 0;
  unsigned long raw = (unsigned long)info;
  if (raw == SEND_SIG_PRIV_PTR) {
    code = SI_KERNEL_CODE;
  } else if (raw != SEND_SIG_NOINFO_PTR) {
    code = BPF_CORE_READ(info, si_code);
    if (code > 0 && code != SI_KERNEL_CODE) fault_addr = (u64)BPF_CORE_READ(info, _sifields._sigfault._addr);
  }
  // Only a signal a process sent (si_code <= 0) has a sender worth describing; for a
  // kernel-made one the current task is a bystander. A process signalling itself is known.
  bool sent = code <= 0 && (u32)(bpf_get_current_pid_tgid() >> 32) != tgid;
  // Not memset: the record is written field by field (fill_current sets ancestors/args_len).
  if (sent) {
    struct dw_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
    if (!e) {
      count_drop();
      return 0;
    }
    fill_signal(e, task, tgid, sig, code, fault_addr, group, result);
    e->total_vm_kib = e->anon_rss_kib = e->file_rss_kib = e->shmem_rss_kib = 0;
    fill_current(e, DW_ANCESTRY | DW_ARGS);
    // Wake deathwatch at once for a signal from another process.
    bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
    return 0;
  }
  struct dw_event* e = bpf_ringbuf_reserve(&events, DW_EVENT_HEAD_SIZE, 0);
  if (!e) {
    count_drop();
    return 0;
  }
  fill_signal(e, task, tgid, sig, code, fault_addr, group, result);
  fill_current(e, 0);
  // A SIGKILL wakes deathwatch at once; the rest (self signals, SIGCHLD, timers) it collects
  // at its next wake-up, at most 100 ms later.
  bpf_ringbuf_submit(e, sig == 9 ? BPF_RB_FORCE_WAKEUP : lazy_wakeup());
  return 0;
}

// Kernels from 6.x pass the victim task; older ones only its pid. kernel_backend.cpp loads
// the task form and falls back to the pid form when the verifier refuses it.
SEC("tp_btf/mark_victim")
int BPF_PROG(on_mark_victim_task, struct task_struct* task, uid_t uid) {
  u32 tgid = BPF_CORE_READ(task, tgid);
  if (!is_watched(tgid) || !owned(task)) return 0;
  struct dw_event* e = new_event(DW_EVENT_OOM_VICTIM, task);
  if (!e) return 0;
  struct mm_struct* mm = BPF_CORE_READ(task, mm);
  if (mm) {
    e->total_vm_kib = (u64)BPF_CORE_READ(mm, total_vm) * 4;
    e->anon_rss_kib = mm_counter_kib(mm, 1 /* MM_ANONPAGES */);
    e->file_rss_kib = mm_counter_kib(mm, 0 /* MM_FILEPAGES */);
    e->shmem_rss_kib = mm_counter_kib(mm, 3 /* MM_SHMEMPAGES */);
  }
  fill_current(e, DW_ANCESTRY | DW_ARGS);
  bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
  return 0;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(on_mark_victim_pid, int pid) {
  // No task pointer: report every victim; user space matches the pid to what it watches.
  struct dw_event* e = new_event(DW_EVENT_OOM_VICTIM, bpf_get_current_task_btf());
  if (!e) return 0;
  e->target_tid = pid;
  e->target_tgid = pid;
  fill_current(e, DW_ANCESTRY | DW_ARGS);
  bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
  return 0;
}

// Keeps the watched set current as watched processes create processes, and reports them.
SEC("tp_btf/sched_process_fork")
int BPF_PROG(on_process_fork, struct task_struct* parent, struct task_struct* child) {
  if (!follow_children) return 0;
  u32 parent_tgid = BPF_CORE_READ(parent, tgid);
  u32 child_tgid = BPF_CORE_READ(child, tgid);
  if (parent_tgid == child_tgid || !is_watched(parent_tgid)) return 0;  // a thread
  u8 one = 1;
  bpf_map_update_elem(&watched, &child_tgid, &one, BPF_ANY);
  struct dw_event* e = new_head_event(DW_EVENT_FORK, child);
  if (!e) return 0;
  e->parent_tgid = parent_tgid;
  bpf_ringbuf_submit(e, lazy_wakeup());  // bookkeeping: collected at the next wake-up
  return 0;
}

// A watched process exec'd: its new argv, read from its own (new) memory.
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_process_exec, struct task_struct* p, pid_t old_pid, struct linux_binprm* bprm) {
  u32 tgid = BPF_CORE_READ(p, tgid);
  if (!is_watched(tgid)) return 0;
  bpf_map_delete_elem(&last_words_taken, &tgid);  // a new program: a new death to capture
  bpf_map_delete_elem(&last_words_pending, &tgid);
  struct dw_event* e = new_event(DW_EVENT_EXEC, p);
  if (!e) return 0;
  fill_current(e, DW_ARGS);  // current is the exec'ing process: args = its new argv
  bpf_probe_read_kernel_str(e->filename, sizeof e->filename, BPF_CORE_READ(bprm, filename));
  bpf_ringbuf_submit(e, lazy_wakeup());
  return 0;
}


// A signal is being delivered; with the default action of a terminating signal it ends the
// process now (SIGKILL comes here too, for every thread of a group being killed). Noted here,
// captured at the thread's exit (on_process_exit_capturing).
// A SIGKILL without siginfo is a thread going down with its group. That the group was
// SIGKILLed is worth capturing; that another thread called exit_group() (group_exit_code
// then holds an exit status, low bits clear) or execve() (group_exec_task) is not: that
// thread is the one to capture, and a bystander must not claim the process first.
static __always_inline bool killed_from_outside(struct task_struct* task) {
  struct signal_struct* signal = BPF_CORE_READ(task, signal);
  if (bpf_core_field_exists(signal->group_exec_task) && BPF_CORE_READ(signal, group_exec_task)) return false;
  return (BPF_CORE_READ(signal, group_exit_code) & 0x7f) != 0;
}

SEC("tp_btf/signal_deliver")
int BPF_PROG(on_signal_deliver, int sig, struct kernel_siginfo* info, struct k_sigaction* ka) {
  struct task_struct* task = bpf_get_current_task_btf();
  u32 tgid = BPF_CORE_READ(task, tgid);
  if (!is_watched(tgid) || !owned(task)) return 0;
  if (!fatal_by_default(sig)) return 0;
  if (ka && BPF_CORE_READ(ka, sa.sa_handler) != 0) return 0;  // handled or ignored: lives on
  if ((unsigned long)info <= 1 && sig == 9 && !killed_from_outside(task)) return 0;
  if (!claim_last_words(tgid)) return 0;  // another thread began the death
  struct pending_death pending = {.tid = BPF_CORE_READ(task, pid), .sig = sig};
  if ((unsigned long)info > 1) {
    pending.code = BPF_CORE_READ(info, si_code);
    if (pending.code > 0 && pending.code != SI_KERNEL_CODE &&
        (sig == 11 || sig == 7 || sig == 4 || sig == 8 || sig == 5))
      pending.fault_addr = (u64)BPF_CORE_READ(info, _sifields._sigfault._addr);
  }
  bpf_map_update_elem(&last_words_pending, &tgid, &pending, BPF_ANY);
  return 0;
}


// The last thread of a watched process is exiting: its exit code, then it leaves the set.
static __always_inline void process_exit(struct task_struct* p) {
  u32 tgid = BPF_CORE_READ(p, tgid);
  if (!is_watched(tgid)) return;
  if (BPF_CORE_READ(p, signal, live.counter) != 0) return;  // other threads live on
  bpf_map_delete_elem(&watched, &tgid);
  bpf_map_delete_elem(&last_words_taken, &tgid);
  bpf_map_delete_elem(&last_words_pending, &tgid);
  struct dw_event* e = new_head_event(DW_EVENT_EXIT, p);
  if (!e) return;
  e->exit_code = BPF_CORE_READ(p, exit_code);
  // An abnormal end wakes deathwatch (an attached process's end is only known from here).
  bpf_ringbuf_submit(e, e->exit_code != 0 ? BPF_RB_FORCE_WAKEUP : lazy_wakeup());
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_process_exit, struct task_struct* p) {
  process_exit(p);
  return 0;
}

// Kernels from 6.16 fire sched_process_exit before the exiting task lets go of its memory
// (and pass group_dead): the thread that called exit_group() is captured here, in its own
// context, its registers still those of the syscall. kernel_backend.cpp loads this form
// where the verifier accepts the second argument, else the one above (no exit capture).
SEC("tp_btf/sched_process_exit")
int BPF_PROG(on_process_exit_capturing, struct task_struct* p, bool group_dead) {
  struct task_struct* task = bpf_get_current_task_btf();
  u32 tgid = BPF_CORE_READ(p, tgid);
  if (task == p && is_watched(tgid) && BPF_CORE_READ(p, mm) && owned(task)) {
    // One call site for the capture: inlined twice, the verifier walked its loops twice.
    bool capture = false;
    u32 trigger = 0;
    int sig = 0, code = 0, exit_code = 0;
    u64 fault_addr = 0;
    struct pending_death* pending = bpf_map_lookup_elem(&last_words_pending, &tgid);
    if (pending) {
      // The thread a fatal signal was delivered to: the others wait for it.
      if (pending->tid == (u32)BPF_CORE_READ(p, pid)) {
        capture = true;
        trigger = DW_LW_FATAL_SIGNAL;
        sig = pending->sig;
        code = pending->code;
        fault_addr = pending->fault_addr;
        bpf_map_delete_elem(&last_words_pending, &tgid);
      }
    } else {
      struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(task);
      long nr = regs ? BPF_CORE_READ(regs, orig_ax) : -1;
      if (nr == 231 /* exit_group */ || (nr == 60 /* exit */ && group_dead)) {
        exit_code = (int)(BPF_CORE_READ(regs, di) & 0xff);
        if ((exit_code != 0 || last_words == DW_LAST_WORDS_ALWAYS) && claim_last_words(tgid)) {
          capture = true;
          trigger = DW_LW_EXIT_CALL;
        }
      }
    }
    if (capture) capture_last_words(task, trigger, sig, code, fault_addr, exit_code);
  }
  process_exit(p);
  return 0;
}
