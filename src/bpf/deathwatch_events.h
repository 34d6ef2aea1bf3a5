/* Events the kernel side (deathwatch.bpf.c) sends to user space through the ring buffer.
 * Shared by both sides: only fixed-width types, no kernel or libc headers. */
#ifndef DEATHWATCH_EVENTS_H
#define DEATHWATCH_EVENTS_H

#define DW_COMM_LEN 16
#define DW_ANY_OWNER 0xFFFFFFFFu  /* owner_uid: a root watcher, every process is reported */
#define DW_ANCESTORS 4
#define DW_ARGS_LEN 256
#define DW_FILENAME_LEN 128

enum dw_event_kind {
  DW_EVENT_SIGNAL = 1,      /* signal_generate for a watched process */
  DW_EVENT_OOM_VICTIM = 2,  /* oom:mark_victim for a watched process */
  DW_EVENT_FORK = 3,        /* a watched process created a process (when following) */
  DW_EVENT_EXEC = 4,        /* a watched process completed an execve (args: its new argv) */
  DW_EVENT_EXIT = 5,        /* the last thread of a watched process exited (exit_code) */
  DW_EVENT_LAST_WORDS = 6,  /* struct dw_last_words: a watched process is dying */
};

/* Indexes of the `dropped` counters. */
enum dw_dropped_ring {
  DW_DROPPED_EVENTS = 0,      /* the `events` ring buffer */
  DW_DROPPED_LAST_WORDS = 1,  /* the `last_words_events` ring buffer */
};

/* What deathwatch_bpf's rodata `last_words` asks for (--last-words). */
enum dw_last_words_policy {
  DW_LAST_WORDS_NEVER = 0,
  DW_LAST_WORDS_ABNORMAL = 1,  /* fatal signals and exit_group with a non-zero code */
  DW_LAST_WORDS_ALWAYS = 2,
};

enum dw_last_words_trigger {
  DW_LW_EXIT_CALL = 1,     /* the thread entered do_group_exit from exit_group() */
  DW_LW_FATAL_SIGNAL = 2,  /* a signal with a terminating default action is being delivered */
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
  /* DW_EVENT_FORK: the parent; DW_EVENT_EXIT: the wait-status form of the exit */
  unsigned int parent_tgid;
  int exit_code;
  unsigned int ancestors;        /* valid entries in ancestor[] */
  unsigned int args_len;         /* bytes of args[] (NUL-separated argv start) */
  /* Up to here the head, which every record has. A signal without a sender to describe (a
   * process's own, or one the kernel made), a fork and an exit are sent as the head alone
   * (DW_EVENT_HEAD_SIZE): a sixth of the size, so a storm fits in a small ring buffer. */
  struct dw_ancestor ancestor[DW_ANCESTORS];
  char args[DW_ARGS_LEN];
  /* oom:mark_victim: memory of the victim, KiB */
  unsigned long long total_vm_kib;
  unsigned long long anon_rss_kib;
  unsigned long long file_rss_kib;
  unsigned long long shmem_rss_kib;
  /* DW_EVENT_EXEC: the path given to execve (bprm->filename) */
  char filename[DW_FILENAME_LEN];
};

#define DW_EVENT_HEAD_SIZE __builtin_offsetof(struct dw_event, ancestor)

#define DW_REGS 21                 /* struct pt_regs on x86_64, in its order */
#define DW_STACK_CHUNK 512
#define DW_STACK_CHUNKS 32
#define DW_STACK_LEN (DW_STACK_CHUNK * DW_STACK_CHUNKS)  /* 16 KiB from the stack pointer */
#define DW_FILES 64                /* mapped files kept; more are counted */
#define DW_FILE_NAME_LEN 64

/* A mapped file (or, for the fault address, any mapping) of the dying process. */
struct dw_mapping {
  unsigned long long start;  /* lowest address the file is mapped at */
  unsigned long long end;    /* highest end */
  unsigned long long pgoff;  /* file offset (bytes) of the lowest mapping */
  unsigned long long ino;
  unsigned int dev;          /* the kernel's dev_t: major << 20 | minor */
  unsigned int flags;        /* vm_flags of its mappings, or'ed (read 1, write 2, exec 4, shared 8) */
  char name[DW_FILE_NAME_LEN];  /* the file's last path component, or [stack] / [heap] / "" */
};

/* Everything needed to tell later where a dying process was: captured in the dying thread's
 * own context, while its registers and memory are there. */
struct dw_last_words {
  unsigned long long boot_ns;  /* same first two fields as dw_event */
  unsigned int kind;           /* DW_EVENT_LAST_WORDS */
  unsigned int tgid;
  unsigned int tid;
  unsigned int trigger;        /* enum dw_last_words_trigger */
  int sig;
  int code;                    /* si_code */
  int exit_code;               /* DW_LW_EXIT_CALL: exit_group's argument */
  unsigned int threads;
  unsigned long long fault_addr;
  char comm[DW_COMM_LEN];      /* the thread's name */
  unsigned long long regs[DW_REGS];
  unsigned long long rss_kib;
  unsigned long long hwm_kib;
  unsigned long long core_limit;  /* RLIMIT_CORE soft limit; ~0 = unlimited */
  unsigned int open_fds;          /* ~0 = not counted */
  unsigned int fd_mode;           /* i_mode of the file the syscall's first argument names; 0 none */
  char fd_name[DW_FILE_NAME_LEN];
  unsigned int fault_mapping_found;
  unsigned int files;             /* valid entries in file[] */
  unsigned int files_not_kept;    /* mapped files beyond DW_FILES */
  unsigned int stack_len;         /* valid bytes in stack[] */
  unsigned int maps_read;         /* 1: the mappings were walked; 0: the memory map stayed locked */
  unsigned int maps_busy;         /* attempts that found the memory map locked (a /proc reader) */
  unsigned long long stack_end;   /* end of the mapping holding the stack pointer; 0 unknown */
  struct dw_mapping fault_mapping;
  struct dw_mapping file[DW_FILES];
  unsigned char stack[DW_STACK_LEN];
};

#endif
