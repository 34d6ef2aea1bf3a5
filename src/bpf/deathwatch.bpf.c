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

// Read-only configuration, set by user space between open and load.
const volatile bool follow_children = false;
const volatile unsigned int last_words = DW_LAST_WORDS_ABNORMAL;  // enum dw_last_words_policy

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
  __type(key, u32);   // tgid
  __type(value, u8);
} watched SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  // 4 MiB: ~7,000 events with full sender identity. Its pages count twice in deathwatch's
  // RSS (user space maps the data area twice): at 16 MiB deathwatch had 40 MiB of RSS and
  // was the OOM killer's choice, instead of the command, in a 64 MiB memory cgroup.
  __uint(max_entries, 1 << 22);
} events SEC(".maps");

// Events that found the ring buffer full (user space reports them; never silently lost).
struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, u32);
  __type(value, u64);
} dropped SEC(".maps");

// Processes whose last words are taken: the first capture wins (the thread that began the
// death), the others (threads the group exit takes down) are not captured.
// Not preallocated: entries exist only while a process dies, and a preallocated table is
// charged to deathwatch's memory cgroup (which may be the target's, with a small limit).
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 65536);
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
  __uint(max_entries, 65536);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, u32);  // tgid
  __type(value, struct pending_death);
} last_words_pending SEC(".maps");

// Open-coded VMA iterator (kernel 6.7+): the dying process's mappings, read now, because
// user space may only look after the mm is gone.
extern int bpf_iter_task_vma_new(struct bpf_iter_task_vma* it, struct task_struct* task, u64 addr) __ksym;
extern struct vm_area_struct* bpf_iter_task_vma_next(struct bpf_iter_task_vma* it) __ksym;
extern void bpf_iter_task_vma_destroy(struct bpf_iter_task_vma* it) __ksym;

#define SEND_SIG_NOINFO_PTR 0UL
#define SEND_SIG_PRIV_PTR 1UL
#define SI_USER_CODE 0
#define SI_KERNEL_CODE 0x80

static __always_inline bool is_watched(u32 tgid) {
  return bpf_map_lookup_elem(&watched, &tgid) != NULL;
}

// Wake-up policy for events that can wait: none, unless the buffer is filling up (a storm),
// then at once, so nothing is dropped.
static __always_inline u64 lazy_wakeup(void) {
  return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) > (1 << 20) ? BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

static __always_inline void count_drop(void) {
  u32 zero = 0;
  u64* n = bpf_map_lookup_elem(&dropped, &zero);
  if (n) *n += 1;
}

// A zeroed event about `task`, or NULL (counted in `dropped`) when the ring buffer is full.
static __always_inline struct dw_event* new_event(u32 kind, struct task_struct* task) {
  struct dw_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop();
    return NULL;
  }
  __builtin_memset(e, 0, sizeof(*e));
  e->boot_ns = bpf_ktime_get_boot_ns();
  e->kind = kind;
  e->target_tid = BPF_CORE_READ(task, pid);
  e->target_tgid = BPF_CORE_READ(task, tgid);
  return e;
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

SEC("tp_btf/signal_generate")
int BPF_PROG(on_signal_generate, int sig, struct kernel_siginfo* info, struct task_struct* task,
             int group, int result) {
  u32 tgid = task->tgid;
  if (!is_watched(tgid)) return 0;
  struct dw_event* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop();
    return 0;
  }
  // Not memset: the 600-byte event is mostly identity, skipped for self-signals. Every field
  // user space reads is written below (fill_current sets ancestors/args_len).
  e->fault_addr = 0;
  e->total_vm_kib = e->anon_rss_kib = e->file_rss_kib = e->shmem_rss_kib = 0;
  e->boot_ns = bpf_ktime_get_boot_ns();
  e->kind = DW_EVENT_SIGNAL;
  e->target_tid = task->pid;
  e->target_tgid = tgid;
  e->sig = sig;
  e->group = group;
  e->result = result;
  e->action = DW_ACTION_UNKNOWN;
  if (sig >= 1 && sig <= 64) {
    // The receiver's action now (the sighand lock is held here): SIG_DFL, SIG_IGN or a handler.
    struct sighand_struct* sighand = BPF_CORE_READ(task, sighand);
    unsigned long handler = 0;
    if (sighand &&
        bpf_probe_read_kernel(&handler, sizeof handler, &sighand->action[(sig - 1) & 63].sa.sa_handler) == 0)
      e->action = handler == 0 ? DW_ACTION_DEFAULT : handler == 1 ? DW_ACTION_IGNORE : DW_ACTION_HANDLER;
  }
  unsigned long raw = (unsigned long)info;
  if (raw == SEND_SIG_NOINFO_PTR) {
    e->code = SI_USER_CODE;  // the kernel fills si_pid/si_uid from current
  } else if (raw == SEND_SIG_PRIV_PTR) {
    e->code = SI_KERNEL_CODE;
  } else {
    e->code = BPF_CORE_READ(info, si_code);
    if (e->code > 0 && e->code != SI_KERNEL_CODE)
      e->fault_addr = (u64)BPF_CORE_READ(info, _sifields._sigfault._addr);
  }
  // Only a signal a process sent (si_code <= 0) has a sender worth describing; for a
  // kernel-made one the current task is a bystander. A process signalling itself is known.
  bool sent = e->code <= 0 && (u32)(bpf_get_current_pid_tgid() >> 32) != tgid;
  fill_current(e, sent ? DW_ANCESTRY | DW_ARGS : 0);
  // Wake deathwatch at once for a signal from another process or a SIGKILL; the rest (self
  // signals, SIGCHLD, timers) it collects at its next wake-up, at most 100 ms later.
  bpf_ringbuf_submit(e, sent || sig == 9 ? BPF_RB_FORCE_WAKEUP : lazy_wakeup());
  return 0;
}

// Kernels from 6.x pass the victim task; older ones only its pid. kernel_backend.cpp loads
// the task form and falls back to the pid form when the verifier refuses it.
SEC("tp_btf/mark_victim")
int BPF_PROG(on_mark_victim_task, struct task_struct* task, uid_t uid) {
  u32 tgid = task->tgid;
  if (!is_watched(tgid)) return 0;
  struct dw_event* e = new_event(DW_EVENT_OOM_VICTIM, task);
  if (!e) return 0;
  struct mm_struct* mm = task->mm;
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
  u32 parent_tgid = parent->tgid;
  u32 child_tgid = child->tgid;
  if (parent_tgid == child_tgid || !is_watched(parent_tgid)) return 0;  // a thread
  u8 one = 1;
  bpf_map_update_elem(&watched, &child_tgid, &one, BPF_ANY);
  struct dw_event* e = new_event(DW_EVENT_FORK, child);
  if (!e) return 0;
  e->parent_tgid = parent_tgid;
  bpf_ringbuf_submit(e, lazy_wakeup());  // bookkeeping: collected at the next wake-up
  return 0;
}

// A watched process exec'd: its new argv, read from its own (new) memory.
SEC("tp_btf/sched_process_exec")
int BPF_PROG(on_process_exec, struct task_struct* p, pid_t old_pid, struct linux_binprm* bprm) {
  u32 tgid = p->tgid;
  if (!is_watched(tgid)) return 0;
  struct dw_event* e = new_event(DW_EVENT_EXEC, p);
  if (!e) return 0;
  fill_current(e, DW_ARGS);  // current is the exec'ing process: args = its new argv
  bpf_probe_read_kernel_str(e->filename, sizeof e->filename, BPF_CORE_READ(bprm, filename));
  bpf_ringbuf_submit(e, lazy_wakeup());
  return 0;
}


// ---- Last words: the moment of death, in the dying thread's own context ----

static __always_inline void describe_mapping(struct dw_mapping* m, struct vm_area_struct* vma,
                                             struct mm_struct* mm) {
  m->start = vma->vm_start;
  m->end = vma->vm_end;
  m->pgoff = (u64)vma->vm_pgoff << 12;
  m->flags = (u32)(vma->vm_flags & 0xf);
  struct file* f = vma->vm_file;
  m->ino = 0;
  m->dev = 0;
  m->name[0] = 0;
  if (f) {
    struct inode* inode = BPF_CORE_READ(f, f_inode);
    m->ino = BPF_CORE_READ(inode, i_ino);
    m->dev = BPF_CORE_READ(inode, i_sb, s_dev);
    bpf_probe_read_kernel_str(m->name, sizeof m->name, BPF_CORE_READ(f, f_path.dentry, d_name.name));
  } else if (mm) {
    unsigned long stack = BPF_CORE_READ(mm, start_stack);
    unsigned long brk_start = BPF_CORE_READ(mm, start_brk), brk = BPF_CORE_READ(mm, brk);
    if (stack >= m->start && stack <= m->end)
      __builtin_memcpy(m->name, "[stack]", 8);
    else if (m->start <= brk && m->end >= brk_start)
      __builtin_memcpy(m->name, "[heap]", 7);
  }
}

// The mapped files (each once: lowest start, highest end), the mapping holding the fault
// address, and where the stack mapping ends (so the copy stops there). Everything the loop
// carries lives in the event, not in registers: the verifier then sees each iteration as the
// same state and the loop verifies in a few passes, whatever the number of mappings.
static __always_inline void read_mappings(struct dw_last_words* e, struct task_struct* task,
                                          struct mm_struct* mm) {
  struct bpf_iter_task_vma it;
  struct vm_area_struct* vma;
  bpf_iter_task_vma_new(&it, task, 0);
  while ((vma = bpf_iter_task_vma_next(&it))) {
    u64 start = vma->vm_start, end = vma->vm_end;
    if (e->stack_end == 0 && e->regs[19] >= start && e->regs[19] < end) e->stack_end = end;
    if (!e->fault_mapping_found && e->fault_addr >= start && e->fault_addr < end) {
      describe_mapping(&e->fault_mapping, vma, mm);
      e->fault_mapping_found = 1;
    }
    struct file* f = vma->vm_file;
    if (!f) continue;
    u64 ino = BPF_CORE_READ(f, f_inode, i_ino);
    u32 n = e->files;
    if (n > 0 && n <= DW_FILES && e->file[(n - 1) & (DW_FILES - 1)].ino == ino) {
      e->file[(n - 1) & (DW_FILES - 1)].end = end;  // another part of the same file
      e->file[(n - 1) & (DW_FILES - 1)].flags |= (u32)(vma->vm_flags & 0xf);
      continue;
    }
    if (n >= DW_FILES) {
      e->files_not_kept++;
      continue;
    }
    describe_mapping(&e->file[n & (DW_FILES - 1)], vma, mm);
    e->files = n + 1;
  }
  bpf_iter_task_vma_destroy(&it);
}

// The top of the stack, in chunks: a page that is not resident fails only its chunk's copy.
static __always_inline void copy_stack(struct dw_last_words* e, u64 sp, u64 stack_end) {
  u64 limit = stack_end > sp ? stack_end - sp : DW_STACK_LEN;
  if (limit > DW_STACK_LEN) limit = DW_STACK_LEN;
  u32 copied = 0;
  for (u32 i = 0; i < DW_STACK_CHUNKS; i++) {
    u32 off = i * DW_STACK_CHUNK;
    if (off >= limit) break;
    u32 len = limit - off >= DW_STACK_CHUNK ? DW_STACK_CHUNK : (u32)(limit - off);
    if (len == DW_STACK_CHUNK) {
      if (bpf_probe_read_user(&e->stack[off & (DW_STACK_LEN - 1)], DW_STACK_CHUNK, (void*)(sp + off)) != 0)
        break;
    } else {
      len &= DW_STACK_CHUNK - 1;
      if (len == 0 || off > DW_STACK_LEN - DW_STACK_CHUNK) break;
      if (bpf_probe_read_user(&e->stack[off], len, (void*)(sp + off)) != 0) break;
    }
    copied = off + len;
  }
  e->stack_len = copied;
}

// Open descriptors: the bits set in the fd table's open_fds bitmap (up to 16384 fds).
static __always_inline u32 count_open_fds(struct fdtable* fdt) {
  u32 max = BPF_CORE_READ(fdt, max_fds);
  if (max > 16384) return ~0U;
  unsigned long* bits = BPF_CORE_READ(fdt, open_fds);
  u32 count = 0;
  for (u32 w = 0; w < 256; w++) {
    if (w * 64 >= max) break;
    u64 word = 0;
    if (bpf_probe_read_kernel(&word, sizeof word, &bits[w]) != 0) return ~0U;
    count += __builtin_popcountll(word);
  }
  return count;
}

// What the interrupted syscall's first argument names, when it is a file descriptor.
static __always_inline void describe_fd_argument(struct dw_last_words* e, struct fdtable* fdt) {
  u64 fd = e->regs[14];  // di
  if (fd >= BPF_CORE_READ(fdt, max_fds)) return;
  struct file** fds = BPF_CORE_READ(fdt, fd);
  struct file* f = NULL;
  if (bpf_probe_read_kernel(&f, sizeof f, &fds[fd & 0xffff]) != 0 || !f) return;
  e->fd_mode = BPF_CORE_READ(f, f_inode, i_mode);
  bpf_probe_read_kernel_str(e->fd_name, sizeof e->fd_name, BPF_CORE_READ(f, f_path.dentry, d_name.name));
}

// Claims the process's last words for the calling hook: false when another thread has them.
static __always_inline bool claim_last_words(u32 tgid) {
  u8 one = 1;
  return bpf_map_update_elem(&last_words_taken, &tgid, &one, BPF_NOEXIST) == 0;
}

static __always_inline void capture_last_words(struct task_struct* task, u32 trigger, int sig, int code,
                                               u64 fault_addr, int exit_code) {
  u32 tgid = task->tgid;
  struct dw_last_words* e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
  if (!e) {
    count_drop();
    return;
  }
  e->boot_ns = bpf_ktime_get_boot_ns();
  e->kind = DW_EVENT_LAST_WORDS;
  e->tgid = tgid;
  e->tid = task->pid;
  e->trigger = trigger;
  e->sig = sig;
  e->exit_code = exit_code;
  e->code = code;
  e->fault_addr = fault_addr;
  bpf_get_current_comm(e->comm, sizeof e->comm);
  e->threads = BPF_CORE_READ(task, signal, nr_threads);
  e->core_limit = BPF_CORE_READ(task, signal, rlim[4].rlim_cur);  // RLIMIT_CORE
  e->fault_mapping_found = 0;
  e->files = e->files_not_kept = e->stack_len = 0;
  e->fd_mode = 0;
  e->fd_name[0] = 0;
  e->open_fds = ~0U;
  e->rss_kib = e->hwm_kib = 0;
  __builtin_memset(e->regs, 0, sizeof e->regs);
  struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(task);
  if (regs) bpf_probe_read_kernel(e->regs, sizeof e->regs, regs);
  struct mm_struct* mm = task->mm;
  if (mm) {
    u64 rss = mm_counter_kib(mm, 0) + mm_counter_kib(mm, 1) + mm_counter_kib(mm, 3);
    u64 hwm = (u64)BPF_CORE_READ(mm, hiwater_rss) * 4;
    e->rss_kib = rss;
    e->hwm_kib = hwm > rss ? hwm : rss;
    e->stack_end = 0;
    read_mappings(e, task, mm);
    copy_stack(e, e->regs[19], e->stack_end);
  }
  struct fdtable* fdt = BPF_CORE_READ(task, files, fdt);
  if (fdt) {
    e->open_fds = count_open_fds(fdt);
    if ((long)e->regs[15] >= 0) describe_fd_argument(e, fdt);  // orig_ax: in a syscall
  }
  bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
}

// Signals whose default action ends the process (all but the ignored and the stopping ones).
static __always_inline bool fatal_by_default(int sig) {
  switch (sig) {
    case 17: case 18: case 23: case 28:  // CHLD CONT URG WINCH
    case 19: case 20: case 21: case 22:  // STOP TSTP TTIN TTOU
      return false;
    default:
      return sig >= 1 && sig <= 64;
  }
}

// A signal is being delivered; with the default action of a terminating signal it ends the
// process now (SIGKILL comes here too, for every thread of a group being killed). Noted here,
// captured at the thread's exit (on_process_exit_capturing).
SEC("tp_btf/signal_deliver")
int BPF_PROG(on_signal_deliver, int sig, struct kernel_siginfo* info, struct k_sigaction* ka) {
  struct task_struct* task = bpf_get_current_task_btf();
  if (!is_watched(task->tgid)) return 0;
  if (!fatal_by_default(sig)) return 0;
  if (ka && BPF_CORE_READ(ka, sa.sa_handler) != 0) return 0;  // handled or ignored: lives on
  u32 tgid = task->tgid;
  if (!claim_last_words(tgid)) return 0;  // another thread began the death
  struct pending_death pending = {.tid = task->pid, .sig = sig};
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
  u32 tgid = p->tgid;
  if (!is_watched(tgid)) return;
  if (BPF_CORE_READ(p, signal, live.counter) != 0) return;  // other threads live on
  bpf_map_delete_elem(&watched, &tgid);
  bpf_map_delete_elem(&last_words_taken, &tgid);
  bpf_map_delete_elem(&last_words_pending, &tgid);
  struct dw_event* e = new_event(DW_EVENT_EXIT, p);
  if (!e) return;
  e->exit_code = p->exit_code;
  // An abnormal end wakes deathwatch (an attached process's end is only known from here).
  bpf_ringbuf_submit(e, p->exit_code != 0 ? BPF_RB_FORCE_WAKEUP : lazy_wakeup());
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
  u32 tgid = p->tgid;
  if (task == p && is_watched(tgid) && p->mm) {
    struct pending_death* pending = bpf_map_lookup_elem(&last_words_pending, &tgid);
    if (pending) {
      // The thread a fatal signal was delivered to: the others wait for it.
      if (pending->tid == (u32)p->pid) {
        capture_last_words(task, DW_LW_FATAL_SIGNAL, pending->sig, pending->code, pending->fault_addr, 0);
        bpf_map_delete_elem(&last_words_pending, &tgid);
      }
    } else {
      struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(task);
      long nr = regs ? BPF_CORE_READ(regs, orig_ax) : -1;
      if (nr == 231 /* exit_group */ || (nr == 60 /* exit */ && group_dead)) {
        int code = (int)(BPF_CORE_READ(regs, di) & 0xff);
        if ((code != 0 || last_words == DW_LAST_WORDS_ALWAYS) && claim_last_words(tgid))
          capture_last_words(task, DW_LW_EXIT_CALL, 0, 0, 0, code);
      }
    }
  }
  process_exit(p);
  return 0;
}
