// Capturing a DeathScene (last_words.h) from a thread the tracer holds stopped: at its
// PTRACE_EVENT_EXIT or at the delivery stop of a fatal signal. The thread's registers, the
// top of its stack, the address space and its state are copied, so the thread can run on
// (and the process be gone) before anything is unwound.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <optional>
#include <string>

#include "deathwatch/last_words.h"

namespace deathwatch {

// Bytes of stack copied from the stack pointer (at most to the end of the stack mapping).
inline constexpr std::size_t kStackCopyBytes = 32 * 1024;

// `info`: the fatal signal's siginfo (FatalSignal); `exit_code`: exit_group's argument;
// `regs`: the thread's registers when the caller has read them already.
DeathScene capture_stopped_thread(pid_t tgid, pid_t tid, DeathTrigger trigger, const siginfo_t* info,
                                  std::optional<int> exit_code, std::optional<UserRegs> regs = std::nullopt);

// The parts of /proc/PID/status a scene keeps (VmRSS, VmHWM, Threads).
void fill_scene_status(DeathScene& scene, std::string_view status_text);
// RLIMIT_CORE's soft limit from /proc/PID/limits text (-1 = unlimited).
std::optional<long long> parse_core_limit(std::string_view limits_text);
// The end of the mapping holding `address`, from maps text.
std::optional<std::uint64_t> mapping_end(std::string_view maps, std::uint64_t address);

}  // namespace deathwatch
