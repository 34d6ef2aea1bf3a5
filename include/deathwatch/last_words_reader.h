// From a DeathScene (raw, as a backend captured it) to LastWords (what the certificate
// shows): the backtrace unwound and symbolized, the fault explained, the syscall named, the
// state at death and where the core dump went.
#pragma once

#include <optional>
#include <string>

#include "deathwatch/certificate.h"
#include "deathwatch/last_words.h"

namespace deathwatch {

struct Backtrace;

// How the recorder turns scenes into last words (libdw in deathwatch, a fake in tests).
class LastWordsReader {
 public:
  virtual ~LastWordsReader() = default;
  // `unwind`: whether to unwind and symbolize the backtrace (the costly part), or only
  // describe the rest of the scene.
  virtual LastWords read(const DeathScene& scene, const Outcome& outcome, bool unwind) = 0;
};

// The real one: unwinds with libdw (unwind.h), bounded in frames and time.
class LibdwLastWordsReader : public LastWordsReader {
 public:
  LastWords read(const DeathScene& scene, const Outcome& outcome, bool unwind) override;
};

// Everything but the unwinding: pure, unit-tested. `core_pattern`: /proc/sys/kernel/core_pattern.
LastWords describe_scene(const DeathScene& scene, const Outcome& outcome, const std::string& core_pattern);

std::string syscall_name(long number);
// Whether the syscall's first argument is a file descriptor (read, write, recvfrom, ...):
// then what that descriptor is says what the thread was waiting on.
bool syscall_takes_fd(long number);
// "address not mapped", "invalid permissions for mapped object", ... for a fault's si_code.
std::optional<std::string> fault_meaning(int signo, int si_code);
// The mapping holding `address` in maps text, or "no mapping: NULL page" / "no mapping".
std::string fault_mapping(const std::string& maps, std::uint64_t address);
// Where a core of this process went: core_pattern expanded (%p %P %i %I %e %u %g %s %t %h %%),
// placed in `cwd` when relative; "| program" when piped.
std::string core_location(const std::string& core_pattern, const DeathScene& scene);
// The first frame that is the process's own code: not the C library's exit/abort/raise path.
const StackFrame* first_own_frame(const std::vector<StackFrame>& frames);
// "fail_here (prog.c:12)", "fail_here+0x1c (prog)", "prog+0x1139".
std::string describe_frame(const StackFrame& frame);

}  // namespace deathwatch
