// Offline unwinding: a DeathScene's registers and copied stack turned into symbolized frames.
//
// Pure with respect to the dead process: memory comes only from the copied stack bytes and the
// module files named in the maps text, never from /proc/PID/mem or ptrace, so it works after
// the process is gone (and cannot read a recycled pid's memory). Built on libdw (elfutils):
// dwfl_attach_state with our own thread callbacks, the model of perf's unwind-libdw.c.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "deathwatch/last_words.h"

namespace deathwatch {

struct UnwindLimits {
  std::size_t max_frames = 64;
  // Wall time for unwinding and symbolizing together. libdw has no timeout of its own: it is
  // checked between frames, so one slow step (loading a large debug file) can overrun it.
  std::chrono::milliseconds budget{1500};
};

struct Backtrace {
  std::vector<StackFrame> frames;  // innermost first
  // Why the backtrace stopped early or failed, when it did; unset for a complete one.
  std::optional<std::string> note;
};

// regs: the thread's user registers (pt_regs order); stack: bytes copied from `stack_address`
// upward; maps: /proc/PID/maps-format text (only lines naming a file starting with '/' give
// modules). Never throws for bad input: garbage gives fewer frames and a note. At least the pc
// from `regs` is returned as frame 0 whenever there is one.
Backtrace unwind(pid_t pid, pid_t tid, const UserRegs& regs, std::uint64_t stack_address,
                 const std::vector<std::uint8_t>& stack, const std::string& maps,
                 const UnwindLimits& limits);

}  // namespace deathwatch
