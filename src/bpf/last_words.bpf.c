// The capture of a dying process's last words, a second eBPF object beside deathwatch.bpf.c
// (the same maps, shared by the loader). It needs what the core does not: the open-coded VMA
// iterator (kfuncs, 6.7) and the 6.16 sched_process_exit with its group_dead argument, both
// found in the kernel's BTF. Kept apart, only this object's load parses that BTF, on another
// CPU while the core loads, and on a kernel without them the core runs alone.
#include "deathwatch_common.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#include "last_words.bpf.h"

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
  // What the signal does first (every delivery comes here, a storm's too): the cheapest
  // test, and the one that lets nearly all of them go.
  if (!fatal_by_default(sig)) return 0;
  if (ka && BPF_CORE_READ(ka, sa.sa_handler) != 0) return 0;  // handled or ignored: lives on
  struct task_struct* task = bpf_get_current_task_btf();
  u32 tgid = BPF_CORE_READ(task, tgid);
  if (!is_watched(tgid) || !owned(task)) return 0;
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

// Kernels from 6.16 fire sched_process_exit before the exiting task lets go of its memory
// (and pass group_dead): the thread that called exit_group() is captured here, in its own
// context, its registers still those of the syscall. kernel_loader.cpp attaches this program
// where the verifier accepts it (the second argument is 6.16's), else the core's plain exit
// program (deathwatch.bpf.c: no exit capture). Never both: the exit would be reported twice.
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
