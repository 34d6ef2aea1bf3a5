// PROVISIONAL (replaced by the unwind branch)
#pragma once
#include <sys/types.h>
#include <chrono>
#include <optional>
#include <string>
#include <vector>
#include "deathwatch/last_words.h"
namespace deathwatch {
struct UnwindLimits { std::size_t max_frames = 64; std::chrono::milliseconds budget{1500}; };
struct Backtrace { std::vector<StackFrame> frames; std::optional<std::string> note; };
Backtrace unwind(pid_t pid, pid_t tid, const UserRegs& regs, std::uint64_t stack_address,
                 const std::vector<std::uint8_t>& stack, const std::string& maps, const UnwindLimits& limits);
}
