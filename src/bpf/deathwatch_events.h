/* Events the kernel side (deathwatch.bpf.c) sends to user space through the ring buffer.
 * Shared by both sides: only fixed-width types, no kernel or libc headers. */
#ifndef DEATHWATCH_EVENTS_H
#define DEATHWATCH_EVENTS_H

#define DW_COMM_LEN 16
#define DW_ANCESTORS 4
#define DW_ARGS_LEN 256
#define DW_FILENAME_LEN 128

enum dw_event_kind {
  DW_EVENT_SIGNAL = 1,      /* signal_generate for a watched process */
  DW_EVENT_OOM_VICTIM = 2,  /* oom:mark_victim for a watched process */
  DW_EVENT_FORK = 3,        /* a watched process created a process (when following) */
  DW_EVENT_EXEC = 4,        /* a watched process completed an execve (args: its new argv) */
  DW_EVENT_EXIT = 5,        /* the last thread of a watched process exited (exit_code) */
};

/* What the receiver had set for a signal when it was generated. */
enum dw_action {
  DW_ACTION_UNKNOWN = 0,
  DW_ACTION_DEFAULT = 1,  /* SIG_DFL */
  DW_ACTION_IGNORE = 2,   /* SIG_IGN */
  DW_ACTION_HANDLER = 3,  /* a handler function */
};

struct dw_ancestor {
  unsigned int tgid;
  char comm[DW_COMM_LEN];
};

struct dw_event {
  unsigned long long boot_ns;    /* bpf_ktime_get_boot_ns() at the event */
  unsigned int kind;             /* enum dw_event_kind */
  /* The receiving task (signal) or the victim (OOM). */
  unsigned int target_tid;
  unsigned int target_tgid;
  /* signal_generate */
  int sig;
  int code;                      /* si_code; SI_USER/SI_KERNEL for the kernel's special infos */
  int group;                     /* process-directed (1) or thread-directed (0) */
  int result;                    /* TRACE_SIGNAL_DELIVERED (0), IGNORED (1), ... */
  int action;                    /* the receiver's action for sig: enum dw_action */
  unsigned long long fault_addr; /* si_addr for fault codes */
  /* The task running when the event happened: the sender of a kill()/sigqueue(), a
   * bystander for kernel-made signals, the OOM trigger for an OOM kill. */
  unsigned int cur_tid;
  unsigned int cur_tgid;
  unsigned int cur_uid;
  unsigned long long cur_start_ns;  /* task->start_boottime, to recognise pid reuse */
  unsigned long long cur_cgroup_id;
  char cur_comm[DW_COMM_LEN];
  unsigned int ancestors;        /* valid entries in ancestor[] */
  struct dw_ancestor ancestor[DW_ANCESTORS];
  unsigned int args_len;         /* bytes of args[] (NUL-separated argv start) */
  char args[DW_ARGS_LEN];
  /* oom:mark_victim: memory of the victim, KiB */
  unsigned long long total_vm_kib;
  unsigned long long anon_rss_kib;
  unsigned long long file_rss_kib;
  unsigned long long shmem_rss_kib;
  /* DW_EVENT_FORK: the parent; DW_EVENT_EXIT: the wait-status form of the exit */
  unsigned int parent_tgid;
  int exit_code;
  /* DW_EVENT_EXEC: the path given to execve (bprm->filename) */
  char filename[DW_FILENAME_LEN];
};

#endif
