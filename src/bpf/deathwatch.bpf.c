// The core of deathwatch's eBPF backend: every signal generated for a watched process, with
// its sender captured in the sender's own context (so a `kill` that exits a microsecond later
// is still named), the OOM killer's choice of victim, and the forks, execs and exits that keep
// the watched set current. (The capture of a dying process is last_words.bpf.c.)
//
// Filtering happens here: processes outside the `watched` map cost one hash lookup.
//
// Raw tracepoints, attached by name: unlike tp_btf programs they need no attach point looked up
// in the kernel's BTF, so with the built-in minimal BTF for CO-RE, loading this object never
// parses the kernel's whole BTF (8 ms of every start). Their arguments are plain values: every
// field is read with BPF_CORE_READ.
#include "deathwatch_common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

// The current task: sender, bystander or OOM trigger. Everything is read now, in its context.
// What of the current task to capture beyond its ids, start, cgroup and comm: the rest is only
// read when it means something (a process's signal to another; an OOM trigger; an exec's new
// argv). A signal with no sender to describe takes only the ids (fill_current_ids).
#define DW_ANCESTRY 1
#define DW_ARGS 2
static __always_inline void fill_current(struct dw_event* e, int identity) {
  // A raw tracepoint has no typed pointers: the current task is an address, read through
  // BPF_CORE_READ like every other field here.
  struct task_struct* cur = (struct task_struct*)bpf_get_current_task();
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

// Only the current task's ids: for a signal with no sender to describe (its own, or one the
// kernel made, where the current task is a bystander), user space reads no more. A storm of
// such signals then costs no read of the current task beyond these helpers.
static __always_inline void fill_current_ids(struct dw_event* e) {
  u64 pid_tgid = bpf_get_current_pid_tgid();
  e->cur_tid = (u32)pid_tgid;
  e->cur_tgid = pid_tgid >> 32;
  e->cur_uid = (u32)bpf_get_current_uid_gid();
  e->cur_start_ns = 0;
  e->cur_cgroup_id = 0;
  e->cur_comm[0] = 0;
  e->ancestors = 0;
  e->args_len = 0;
}

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

SEC("raw_tp/signal_generate")
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
  fill_current_ids(e);
  // A SIGKILL wakes deathwatch at once; the rest (self signals, SIGCHLD, timers) it collects
  // at its next wake-up, at most 100 ms later.
  bpf_ringbuf_submit(e, sig == 9 ? BPF_RB_FORCE_WAKEUP : lazy_wakeup());
  return 0;
}

// Kernels from 6.x pass the victim's task, older ones only its pid. A raw tracepoint takes
// either: a pid is a small number, a task a kernel address (above 4 GiB on every 64-bit
// architecture the kernel supports).
static __always_inline int report_victim_task(struct task_struct* task) {
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

static __always_inline int report_victim_pid(int pid) {
  // No task: every victim is reported; user space matches the pid to what it watches.
  struct dw_event* e = new_event(DW_EVENT_OOM_VICTIM, (struct task_struct*)bpf_get_current_task());
  if (!e) return 0;
  e->target_tid = pid;
  e->target_tgid = pid;
  fill_current(e, DW_ANCESTRY | DW_ARGS);
  bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
  return 0;
}

SEC("raw_tp/mark_victim")
int BPF_PROG(on_mark_victim, u64 task_or_pid) {
  if (task_or_pid >= (1ULL << 32)) return report_victim_task((struct task_struct*)task_or_pid);
  return report_victim_pid((int)task_or_pid);
}

// Keeps the watched set current as watched processes create processes, and reports them.
SEC("raw_tp/sched_process_fork")
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
SEC("raw_tp/sched_process_exec")
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

SEC("raw_tp/sched_process_exit")
int BPF_PROG(on_process_exit, struct task_struct* p) {
  process_exit(p);
  return 0;
}
