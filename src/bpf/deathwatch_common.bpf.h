// What both eBPF objects share (deathwatch.bpf.c: the core programs; last_words.bpf.c: the
// capture of a dying process): read-only configuration, every map, and the helpers both use.
// Each object declares the same maps; the loader creates them once and hands the same
// descriptors to both (bpf_map__reuse_fd, by name), so their records reach the same rings.
#pragma once

#include "vmlinux.h"

#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "deathwatch_events.h"

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

// Captures have a ring buffer of their own: at ~22 KiB each, a burst of failing children
// must not crowd out the signal events, the main evidence (256 KiB: 11 captures in flight,
// each waking deathwatch at once; what does not fit is counted and reported, and each page
// costs deathwatch two of RSS).
struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, 1 << 18);
} last_words_events SEC(".maps");

// Processes whose last words are taken: the first capture wins (the thread that began the
// death), the others (threads the group exit takes down) are not captured.
// Not preallocated: entries exist only while a process dies, and a preallocated table is
// charged to deathwatch's memory cgroup (which may be the target's, with a small limit).
// 4,096 processes dying at once: a 65,536-bucket table took 0.7 ms of every start.
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, u32);   // tgid
  __type(value, u8);
} last_words_taken SEC(".maps");

// A fatal signal seen delivered, waiting for its thread's exit to be captured: at
// signal_deliver the sighand lock is held with interrupts off, and the VMA iterator yields
// nothing there; at sched_process_exit (6.16+) the thread still has its user registers (those
// of its entry into the kernel) and its memory, and the iterator works.
struct pending_death {
  u32 tid;
  int sig;
  int code;
  u64 fault_addr;
};
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 4096);  // like last_words_taken
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, u32);  // tgid
  __type(value, struct pending_death);
} last_words_pending SEC(".maps");

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
