// Wall-clock time stamps as the certificate writes them.
#pragma once

#include <chrono>
#include <string>

namespace deathwatch {

using WallClock = std::chrono::system_clock;
using WallTime = WallClock::time_point;

// RFC 3339 in UTC with milliseconds: "2026-11-26T13:54:59.123Z".
std::string format_rfc3339(WallTime t);
// Seconds between two instants, as a double.
double seconds_between(WallTime from, WallTime to);

}  // namespace deathwatch
