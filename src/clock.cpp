#include "deathwatch/clock.h"

#include <time.h>

#include <cstdio>

namespace deathwatch {

std::string format_rfc3339(WallTime t) {
  using namespace std::chrono;
  const auto since_epoch = t.time_since_epoch();
  const auto secs = floor<seconds>(since_epoch);  // floor: correct before 1970 too
  const auto millis = duration_cast<milliseconds>(since_epoch - secs).count();
  const time_t tt = static_cast<time_t>(secs.count());
  struct tm tm_utc {};
  ::gmtime_r(&tt, &tm_utc);
  char buf[80];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm_utc.tm_year + 1900,
                tm_utc.tm_mon + 1, tm_utc.tm_mday, tm_utc.tm_hour, tm_utc.tm_min, tm_utc.tm_sec,
                static_cast<int>(millis));
  return buf;
}

double seconds_between(WallTime from, WallTime to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace deathwatch
