// The kernel side of last words (included by last_words.bpf.c): what is kept of a dying
// process, captured in the dying thread's own context while its registers and memory are
// still there. Its maps are in deathwatch_common.bpf.h.
#pragma once

// Fields are read with BPF_CORE_READ, not dereferenced: each direct load through a trusted
// pointer makes the verifier search the kernel's BTF by name (btf_nested_type_is_trusted),
// and inside this loop that search was most of a 100 ms program load.
// Open-coded VMA iterator (kernel 6.7+): the dying process's mappings, read now, because
// user space may only look after the mm is gone.
extern int bpf_iter_task_vma_new(struct bpf_iter_task_vma* it, struct task_struct* task, u64 addr) __ksym;
extern struct vm_area_struct* bpf_iter_task_vma_next(struct bpf_iter_task_vma* it) __ksym;
extern void bpf_iter_task_vma_destroy(struct bpf_iter_task_vma* it) __ksym;

// What is read of one mapping, inside the iterator loop (straight-line code, no branch).
struct vma_facts {
  u64 start;
  u64 end;
  u64 pgoff;
  u64 flags;
  u64 file;  // struct file*, as read: a plain number, never dereferenced but by BPF_CORE_READ
};

static __always_inline void read_vma(struct vma_facts* v, struct vm_area_struct* vma) {
  v->start = BPF_CORE_READ(vma, vm_start);
  v->end = BPF_CORE_READ(vma, vm_end);
  v->pgoff = BPF_CORE_READ(vma, vm_pgoff);
  v->flags = BPF_CORE_READ(vma, vm_flags);
  v->file = (u64)BPF_CORE_READ(vma, vm_file);
}

static __always_inline void describe_mapping(struct dw_mapping* m, const struct vma_facts* v,
                                             struct mm_struct* mm) {
  m->start = v->start;
  m->end = v->end;
  m->pgoff = v->pgoff << 12;
  m->flags = (u32)(v->flags & 0xf);
  struct file* f = (struct file*)v->file;
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

// One mapping of the dying process, folded into the event: the mapped files (each once:
// lowest start, highest end), the mapping holding the fault address, and where the stack
// mapping ends (so the copy stops there). A global function: the verifier checks it once,
// on its own, instead of walking each of its paths inside the iterator loop (7,800
// instructions and 9-14 ms of every start with last words). Its arguments are what a global
// function may take: memory of a known size (the ring buffer record, the facts on the
// caller's stack) and numbers (the mm, as BPF_CORE_READ returned it).
__noinline int fold_mapping(struct dw_last_words* e, const struct vma_facts* v, u64 mm_address) {
  if (!e || !v) return 0;
  struct mm_struct* mm = (struct mm_struct*)mm_address;
  u64 start = v->start, end = v->end;
  if (e->stack_end == 0 && e->regs[19] >= start && e->regs[19] < end) e->stack_end = end;
  if (!e->fault_mapping_found && e->fault_addr >= start && e->fault_addr < end) {
    describe_mapping(&e->fault_mapping, v, mm);
    e->fault_mapping_found = 1;
  }
  struct file* f = (struct file*)v->file;
  if (!f) return 0;
  u64 ino = BPF_CORE_READ(f, f_inode, i_ino);
  u32 n = e->files;
  if (n > 0 && n <= DW_FILES && e->file[(n - 1) & (DW_FILES - 1)].ino == ino) {
    e->file[(n - 1) & (DW_FILES - 1)].end = end;  // another part of the same file
    e->file[(n - 1) & (DW_FILES - 1)].flags |= (u32)(v->flags & 0xf);
    return 0;
  }
  if (n >= DW_FILES) {
    e->files_not_kept++;
    return 0;
  }
  describe_mapping(&e->file[n & (DW_FILES - 1)], v, mm);
  e->files = n + 1;
  return 0;
}

// The iterator only try-locks the memory map, and yields nothing while someone holds it:
// deathwatch itself, reading the new command's /proc/PID/cmdline when a command that crashes
// at once has just exec'd, was seen to (a backtrace of one unknown frame, 1 run in 4 of a
// NULL write at start-up). The walk is tried again, a bpf_loop callback so that the verifier
// checks it once; each try costs well under a microsecond, and a reader holds the lock for a
// few. The dying thread is current: its task is taken here, trusted, for the iterator.
#define DW_MAPS_TRIES 1024
struct mappings_ctx {
  struct dw_last_words* e;
  u64 mm;
};

static long try_read_mappings(u32 attempt, struct mappings_ctx* c) {
  struct task_struct* task = bpf_get_current_task_btf();
  struct bpf_iter_task_vma it;
  struct vm_area_struct* vma;
  struct vma_facts facts;
  if (bpf_iter_task_vma_new(&it, task, 0) != 0) {
    bpf_iter_task_vma_destroy(&it);
    c->e->maps_busy = attempt + 1;
    return 0;  // locked: again
  }
  while ((vma = bpf_iter_task_vma_next(&it))) {
    read_vma(&facts, vma);
    fold_mapping(c->e, &facts, c->mm);
  }
  bpf_iter_task_vma_destroy(&it);
  c->e->maps_read = 1;
  return 1;
}

static __always_inline void read_mappings(struct dw_last_words* e, struct mm_struct* mm) {
  struct mappings_ctx c = {.e = e, .mm = (u64)mm};
  e->maps_read = 0;
  e->maps_busy = 0;
  bpf_loop(DW_MAPS_TRIES, try_read_mappings, &c, 0);
}

// The top of the stack, in chunks: a page that is not resident fails only its chunk's copy.
// A bpf_loop callback, verified once rather than chunk by chunk.
struct stack_copy_ctx {
  struct dw_last_words* e;
  u64 sp;
  u64 limit;
  u32 copied;
};

static long copy_stack_chunk(u32 i, struct stack_copy_ctx* c) {
  u32 off = i * DW_STACK_CHUNK;
  if (off >= c->limit || off > DW_STACK_LEN - DW_STACK_CHUNK) return 1;
  u32 len = c->limit - off >= DW_STACK_CHUNK ? DW_STACK_CHUNK : (u32)(c->limit - off);
  if (len == DW_STACK_CHUNK) {
    if (bpf_probe_read_user(&c->e->stack[off & (DW_STACK_LEN - 1)], DW_STACK_CHUNK, (void*)(c->sp + off)) != 0)
      return 1;
  } else {
    len &= DW_STACK_CHUNK - 1;
    if (len == 0) return 1;
    if (bpf_probe_read_user(&c->e->stack[off & (DW_STACK_LEN - 1)], len, (void*)(c->sp + off)) != 0) return 1;
  }
  c->copied = off + len;
  return 0;
}

static __always_inline void copy_stack(struct dw_last_words* e, u64 sp, u64 stack_end) {
  u64 limit = stack_end > sp ? stack_end - sp : DW_STACK_LEN;
  if (limit > DW_STACK_LEN) limit = DW_STACK_LEN;
  struct stack_copy_ctx c = {.e = e, .sp = sp, .limit = limit, .copied = 0};
  bpf_loop(DW_STACK_CHUNKS, copy_stack_chunk, &c, 0);
  e->stack_len = c.copied;
}

// Open descriptors: the bits set in the fd table's open_fds bitmap (up to 16384 fds).
// Counted in a bpf_loop callback: the verifier checks its body once, where an open-coded
// loop of 256 words was verified word by word (100 ms of every start with last words).
struct fd_count_ctx {
  unsigned long* bits;
  u32 words;
  u32 count;
  bool failed;
};

static long count_fd_word(u32 w, struct fd_count_ctx* c) {
  if (w >= c->words) return 1;
  u64 word = 0;
  if (bpf_probe_read_kernel(&word, sizeof word, &c->bits[w]) != 0) {
    c->failed = true;
    return 1;
  }
  c->count += __builtin_popcountll(word);
  return 0;
}

static __always_inline u32 count_open_fds(struct fdtable* fdt) {
  u32 max = BPF_CORE_READ(fdt, max_fds);
  if (max > 16384) return ~0U;
  struct fd_count_ctx c = {.bits = BPF_CORE_READ(fdt, open_fds), .words = (max + 63) / 64, .count = 0, .failed = false};
  bpf_loop(256, count_fd_word, &c, 0);
  return c.failed ? ~0U : c.count;
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
  u32 tgid = BPF_CORE_READ(task, tgid);
  struct dw_last_words* e = bpf_ringbuf_reserve(&last_words_events, sizeof(*e), 0);
  if (!e) {
    count_drop_in(DW_DROPPED_LAST_WORDS);
    return;
  }
  e->boot_ns = bpf_ktime_get_boot_ns();
  e->kind = DW_EVENT_LAST_WORDS;
  e->tgid = tgid;
  e->tid = BPF_CORE_READ(task, pid);
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
  e->maps_read = e->maps_busy = 0;
  e->fd_mode = 0;
  e->fd_name[0] = 0;
  e->open_fds = ~0U;
  e->rss_kib = e->hwm_kib = 0;
  __builtin_memset(e->regs, 0, sizeof e->regs);
  struct pt_regs* regs = (struct pt_regs*)bpf_task_pt_regs(task);
  if (regs) bpf_probe_read_kernel(e->regs, sizeof e->regs, regs);
  struct mm_struct* mm = BPF_CORE_READ(task, mm);
  if (mm) {
    u64 rss = mm_counter_kib(mm, 0) + mm_counter_kib(mm, 1) + mm_counter_kib(mm, 3);
    u64 hwm = (u64)BPF_CORE_READ(mm, hiwater_rss) * 4;
    e->rss_kib = rss;
    e->hwm_kib = hwm > rss ? hwm : rss;
    e->stack_end = 0;
    read_mappings(e, mm);
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

