// PROVISIONAL stub
#include "deathwatch/unwind.h"
namespace deathwatch {
Backtrace unwind(pid_t, pid_t, const UserRegs& regs, std::uint64_t, const std::vector<std::uint8_t>&, const std::string&, const UnwindLimits&) {
  Backtrace b; StackFrame f; f.address = regs[kRip]; b.frames.push_back(f); b.note = "stub"; return b;
}
}
