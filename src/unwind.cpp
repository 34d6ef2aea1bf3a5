// Offline unwinding with libdw: registers + copied stack + maps text -> symbolized frames.
//
// The shape follows perf's unwind-libdw.c: modules are reported from the maps text, then
// dwfl_attach_state() installs our own Dwfl_Thread_Callbacks, which serve the one captured
// thread, its registers and its copied stack. Facts from elfutils 0.188 (libdwfl/dwfl_frame.c):
// next_thread and set_initial_registers are mandatory (else DWFL_E_INVALID_ARGUMENT);
// memory_read may be NULL but then only the initial frame comes back; with elf == NULL the
// architecture (Ebl) comes from the first reported module whose ELF opens, skipping "[vdso: N]"
// and "(deleted)" modules, so no openable module means DWFL_E_PROCESS_NO_ARCH.
#include "deathwatch/unwind.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>

#include <algorithm>
#include <optional>
#include <string>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>

namespace deathwatch {
namespace {

using Clock = std::chrono::steady_clock;

struct DwflDeleter {
  void operator()(Dwfl* dwfl) const { dwfl_end(dwfl); }
};
using DwflPtr = std::unique_ptr<Dwfl, DwflDeleter>;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<std::FILE, FileCloser>;

struct FreeDeleter {
  void operator()(char* p) const { std::free(p); }
};

// The captured thread, as the thread callbacks see it. Must outlive the Dwfl.
struct Capture {
  pid_t tid = 0;
  const UserRegs* regs = nullptr;
  std::uint64_t stack_address = 0;
  const std::vector<std::uint8_t>* stack = nullptr;
  // The first read the copy could not serve: libdw gives no error of its own for a refused
  // memory_read, so this tells "the copied stack ran out" from other failures.
  std::optional<std::uint64_t> refused_read;
};

// Dwfl_Callbacks.find_elf. dwfl_linux_proc_find_elf reads "(deleted)" files and "[vdso: N]"
// images from /proc/PID/mem; the process may be gone or its pid reused, so only real files
// are opened. (dwfl_linux_proc_maps_report never reports a vdso; the guard is for safety.)
int find_elf(Dwfl_Module* mod, void** userdata, const char* name, Dwarf_Addr base,
             char** file_name, Elf** elfp) {
  const std::string_view n{name};
  if (n.empty() || n.front() != '/' || n.ends_with(" (deleted)")) return -1;
  return dwfl_linux_proc_find_elf(mod, userdata, name, base, file_name, elfp);
}

// The default search path (.debug next to the file, /usr/lib/debug, build-id links).
char* debuginfo_path = nullptr;

const Dwfl_Callbacks kDwflCallbacks = {
    .find_elf = find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = nullptr,  // only ET_REL files need it; mapped files are ET_EXEC/ET_DYN
    .debuginfo_path = &debuginfo_path,
};

// Dwfl_Thread_Callbacks.next_thread: the capture holds one thread. *thread_argp is null on
// the first call; setting it marks the thread as given.
pid_t next_thread(Dwfl*, void* dwfl_arg, void** thread_argp) {
  if (*thread_argp != nullptr) return 0;
  *thread_argp = dwfl_arg;
  return static_cast<Capture*>(dwfl_arg)->tid;
}

// Dwfl_Thread_Callbacks.memory_read: any 8 bytes wholly inside the copy; nothing else, since
// the process may be gone (perf also reads the module files here; CFI rarely needs that).
bool memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* dwfl_arg) {
  auto* cap = static_cast<Capture*>(dwfl_arg);
  const std::size_t size = cap->stack->size();
  if (addr >= cap->stack_address && addr - cap->stack_address <= size &&
      size - (addr - cap->stack_address) >= sizeof(Dwarf_Word)) {
    std::memcpy(result, cap->stack->data() + (addr - cap->stack_address), sizeof(Dwarf_Word));
    return true;
  }
  if (!cap->refused_read) cap->refused_read = addr;
  return false;
}

// Dwfl_Thread_Callbacks.set_initial_registers: pt_regs order to the x86_64 DWARF numbering
// (System V psABI: 0 rax, 1 rdx, 2 rcx, 3 rbx, 4 rsi, 5 rdi, 6 rbp, 7 rsp, 8-15 r8-r15,
// 16 the return address column, i.e. rip).
bool set_initial_registers(Dwfl_Thread* thread, void* thread_arg) {
  const UserRegs& r = *static_cast<Capture*>(thread_arg)->regs;
  const Dwarf_Word dwarf[17] = {r[kRax], r[kRdx], r[kRcx], r[kRbx], r[kRsi], r[kRdi],
                                r[kRbp], r[kRsp], r[kR8],  r[kR9],  r[kR10], r[kR11],
                                r[kR12], r[kR13], r[kR14], r[kR15], r[kRip]};
  if (!dwfl_thread_state_registers(thread, 0, 17, dwarf)) return false;
  dwfl_thread_state_register_pc(thread, r[kRip]);
  return true;
}

const Dwfl_Thread_Callbacks kThreadCallbacks = {
    .next_thread = next_thread,
    .get_thread = nullptr,  // libdw emulates it with next_thread
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
    .detach = nullptr,         // nothing was attached
    .thread_detach = nullptr,  // nothing was stopped
};

struct RawFrame {
  Dwarf_Addr pc = 0;
  bool activation = false;  // pc is where execution is (frame 0, signal frames), not a return
};

struct Walk {
  std::vector<RawFrame> frames;
  std::size_t max_frames = 0;
  Clock::time_point deadline;
  std::optional<std::string> stopped;  // set when we ended the walk
  bool out_of_memory = false;          // the callback could not even build that message
};

int on_frame_checked(Dwfl_Frame* frame, Walk* walk) {
  RawFrame raw;
  if (!dwfl_frame_pc(frame, &raw.pc, &raw.activation)) {
    walk->stopped = "no pc for frame " + std::to_string(walk->frames.size()) + ": " +
                    dwfl_errmsg(-1);
    return DWARF_CB_ABORT;
  }
  walk->frames.push_back(raw);  // within the capacity reserved up front
  if (walk->frames.size() >= walk->max_frames) {
    walk->stopped = "stopped at the frame limit (" + std::to_string(walk->max_frames) + ")";
    return DWARF_CB_ABORT;
  }
  if (Clock::now() >= walk->deadline) {
    walk->stopped = "stopped: unwind time budget spent";
    return DWARF_CB_ABORT;
  }
  return DWARF_CB_OK;
}

// Called from libdw's C code: nothing may propagate through it.
int on_frame(Dwfl_Frame* frame, void* arg) noexcept {
  auto* walk = static_cast<Walk*>(arg);
  try {
    return on_frame_checked(frame, walk);
  } catch (...) {
    walk->out_of_memory = true;
    return DWARF_CB_ABORT;
  }
}

// Symbol names as people write them: without the ELF symbol version that .symtab names carry
// ("__libc_start_main@@GLIBC_2.34"), and demangled.
std::string function_name(const char* symbol) {
  const std::string name{symbol, std::strcspn(symbol, "@")};
  if (!name.starts_with("_Z")) return name;
  int status = 0;
  std::unique_ptr<char, FreeDeleter> out{
      abi::__cxa_demangle(name.c_str(), nullptr, nullptr, &status)};
  return status == 0 && out ? std::string(out.get()) : name;
}

// file:line for a pc whose compile unit libdw could not find: before elfutils 0.191 it
// finds units only through .debug_aranges, which clang does not emit, so a clang-built
// program had no file:line at all. Without that section, the units are searched by their
// own ranges (DW_AT_low_pc/high_pc/ranges).
std::optional<std::pair<std::string, int>> line_from_units(Dwfl_Module* mod, Dwarf_Addr pc) {
  Dwarf_Addr bias = 0;
  Dwarf* dwarf = dwfl_module_getdwarf(mod, &bias);
  if (dwarf == nullptr) return std::nullopt;
  Dwarf_Aranges* aranges = nullptr;
  std::size_t count = 0;
  if (dwarf_getaranges(dwarf, &aranges, &count) == 0 && count > 0) return std::nullopt;  // searched already
  const Dwarf_Addr address = pc - bias;
  Dwarf_CU* cu = nullptr;
  Dwarf_Die unit;
  std::uint8_t unit_type = 0;
  while (dwarf_get_units(dwarf, cu, &cu, nullptr, &unit_type, &unit, nullptr) == 0) {
    if (dwarf_haspc(&unit, address) != 1) continue;
    Dwarf_Line* line = dwarf_getsrc_die(&unit, address);
    if (line == nullptr) return std::nullopt;
    int lineno = 0;
    dwarf_lineno(line, &lineno);
    const char* file = dwarf_linesrc(line, nullptr, nullptr);
    if (file == nullptr) return std::nullopt;
    return std::make_pair(std::string(file), lineno);
  }
  return std::nullopt;
}

// Module, offset, function and (with debug info) file:line for one pc. For a return address
// the lookup uses pc - 1: the call may be the last instruction of its function or line.
StackFrame symbolize(Dwfl* dwfl, const RawFrame& raw, bool names) {
  StackFrame f;
  f.address = raw.pc;
  if (dwfl == nullptr) return f;
  const Dwarf_Addr lookup = raw.activation || raw.pc == 0 ? raw.pc : raw.pc - 1;
  Dwfl_Module* mod = dwfl_addrmodule(dwfl, lookup);
  if (mod == nullptr) return f;
  if (const char* name =
          dwfl_module_info(mod, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr))
    f.module = name;
  if (!names) return f;
  // The load bias maps the file's virtual addresses to the process's: pc - bias is what
  // `addr2line -e module` takes. Without the ELF (file gone) the bias is unknown.
  Dwarf_Addr bias = 0;
  if (dwfl_module_getelf(mod, &bias) == nullptr) return f;
  f.offset = raw.pc - bias;
  GElf_Off sym_offset = 0;
  GElf_Sym sym;
  // .symtab when present (or found in the debug file), else .dynsym.
  if (const char* fn = dwfl_module_addrinfo(mod, lookup, &sym_offset, &sym, nullptr, nullptr,
                                            nullptr))
    f.function = function_name(fn);
  if (Dwfl_Line* line = dwfl_module_getsrc(mod, lookup)) {
    int lineno = 0;
    if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
      f.file = file;
      if (lineno > 0) f.line = lineno;
    }
  } else if (auto found = line_from_units(mod, lookup)) {
    f.file = found->first;
    if (found->second > 0) f.line = found->second;
  }
  return f;
}

// Where a thread's stack legitimately ends: glibc's _start and clone3/clone mark the return
// address undefined, but a failure in them is still the normal end, not a truncation.
bool is_outermost(const StackFrame& f) {
  if (!f.function) return false;
  const std::string& n = *f.function;
  return n == "_start" || n == "clone3" || n == "__clone3" || n == "clone" || n == "__clone";
}

void add_note(Backtrace& bt, const std::string& text) {
  bt.note = bt.note ? *bt.note + "; " + text : text;
}

// libdw consults debuginfod (the network, with 90 s timeouts) whenever DEBUGINFOD_URLS is set,
// and Debian's libdebuginfod-common sets it for login shells. A crash report must not hang on
// or leak to a server, and libdw 0.188 has no per-Dwfl switch, so the variable is removed from
// this process once, before the first dwfl_begin. The watched program is unaffected: it was
// started with its own environment (launch.cpp) before any unwinding happens.
void disable_debuginfod() {
  static std::once_flag once;
  std::call_once(once, [] { ::unsetenv("DEBUGINFOD_URLS"); });
}

}  // namespace

Backtrace unwind(pid_t pid, pid_t tid, const UserRegs& regs, std::uint64_t stack_address,
                 const std::vector<std::uint8_t>& stack, const std::string& maps,
                 const UnwindLimits& limits) {
  const Clock::time_point deadline = Clock::now() + limits.budget;
  Backtrace bt;
  if (limits.max_frames == 0) {
    bt.note = "no frames asked for (max_frames 0)";
    return bt;
  }
  disable_debuginfod();

  DwflPtr dwfl{dwfl_begin(&kDwflCallbacks)};
  if (!dwfl) {
    bt.note = std::string("dwfl_begin: ") + dwfl_errmsg(-1);
    bt.frames.push_back(symbolize(nullptr, RawFrame{regs[kRip], true}, false));
    return bt;
  }

  // fmemopen rejects size 0 on some libcs: an empty text simply reports no modules.
  if (!maps.empty()) {
    FilePtr f{::fmemopen(const_cast<char*>(maps.data()), maps.size(), "r")};
    if (!f) {
      add_note(bt, std::string("fmemopen of the maps text: ") + std::strerror(errno));
    } else {
      // Stops at the first malformed line, keeping the modules before it; > 0 is an errno.
      const int rc = dwfl_linux_proc_maps_report(dwfl.get(), f.get());
      if (rc > 0) add_note(bt, std::string("maps text: ") + std::strerror(rc));
      else if (rc < 0) add_note(bt, std::string("maps text: ") + dwfl_errmsg(-1));
    }
  }
  if (dwfl_report_end(dwfl.get(), nullptr, nullptr) != 0)
    add_note(bt, std::string("dwfl_report_end: ") + dwfl_errmsg(-1));

  Capture cap;
  // next_thread's 0 means "no more threads": any positive id will do for a lone thread.
  cap.tid = tid > 0 ? tid : (pid > 0 ? pid : 1);
  cap.regs = &regs;
  cap.stack_address = stack_address;
  cap.stack = &stack;

  Walk walk;
  walk.max_frames = limits.max_frames;
  walk.deadline = deadline;
  walk.frames.reserve(std::min<std::size_t>(limits.max_frames, 4096));
  if (walk.max_frames > walk.frames.capacity()) walk.max_frames = walk.frames.capacity();

  std::optional<std::string> failure;  // libdw's reason when the walk failed
  const bool attached = dwfl_attach_state(dwfl.get(), nullptr, pid, &kThreadCallbacks, &cap);
  if (!attached) {
    // DWFL_E_PROCESS_NO_ARCH ("Couldn't find architecture of any ELF") when no module opened.
    failure = std::string("dwfl_attach_state: ") + dwfl_errmsg(-1);
  } else {
    const int rc = dwfl_getthread_frames(dwfl.get(), cap.tid, on_frame, &walk);
    if (rc == -1) failure = dwfl_errmsg(-1);
  }

  // Symbolize after the walk, under the same deadline: the walk needs only CFI, names and
  // lines may load whole debug files (tens of ms for libc's), so a spent budget still leaves
  // every unwound address.
  if (walk.frames.empty()) walk.frames.push_back(RawFrame{regs[kRip], true});
  std::optional<std::size_t> unnamed_from;  // first frame left without names (budget spent)
  for (const RawFrame& raw : walk.frames) {
    if (!unnamed_from && Clock::now() >= deadline) unnamed_from = bt.frames.size();
    bt.frames.push_back(symbolize(dwfl.get(), raw, !unnamed_from));
  }

  // libdw cannot tell a stack copy that ran out from the real end: when the return address
  // cannot be read, handle_cfi marks the pc undefined and the walk "ends" with success. So a
  // refused read counts as truncation, unless the walk reached a thread's outermost function.
  if (walk.out_of_memory) {
    add_note(bt, "stopped: out of memory while unwinding");
  } else if (walk.stopped) {
    add_note(bt, *walk.stopped);
  } else if ((failure || cap.refused_read) && !is_outermost(bt.frames.back())) {
    std::string why = failure.value_or("");
    if (cap.refused_read) {
      char where[160];
      std::snprintf(where, sizeof where,
                    "needed memory at %#llx, outside the copied stack (%zu bytes from %#llx)",
                    static_cast<unsigned long long>(*cap.refused_read), stack.size(),
                    static_cast<unsigned long long>(stack_address));
      why = where;
    }
    if (attached && bt.frames.size() == 1 && !bt.frames[0].module) {
      // libdw says "No DWARF information found" for a pc outside every module.
      char where[96];
      std::snprintf(where, sizeof where, "pc %#llx is in no mapped file",
                    static_cast<unsigned long long>(bt.frames[0].address));
      why = where;
    }
    if (walk.frames.size() == 1)
      add_note(bt, "unwind failed at the first frame: " + why);
    else
      add_note(bt, "backtrace truncated after " + std::to_string(bt.frames.size()) +
                       " frames: " + why);
  }
  if (unnamed_from)
    add_note(bt, "time budget spent: frames from #" + std::to_string(*unnamed_from) +
                     " on not symbolized");
  return bt;
}

}  // namespace deathwatch
