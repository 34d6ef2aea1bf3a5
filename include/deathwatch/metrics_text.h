// The Prometheus text exposition of deathwatch's counters (--metrics FILE), kept across runs:
// the file is read back, one death added, and written again. Pure logic.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <tuple>

#include "deathwatch/death_facts.h"

namespace deathwatch {

struct DeathMetrics {
  // (command, category, signal) -> deaths. `command` is the program's basename, a bounded
  // label (never a pid or a command line); `signal` is "none" for an exit.
  std::map<std::tuple<std::string, std::string, std::string>, std::uint64_t> deaths;
  std::map<std::string, double> last_death_timestamp;  // command -> Unix seconds
  std::map<std::string, long long> last_exit_code;     // command -> code (128+S for a signal)
};

// Reads deathwatch's own series from a textfile; other lines are ignored.
DeathMetrics parse_death_metrics(std::string_view text);
std::string render_death_metrics(const DeathMetrics& metrics);
void add_death(DeathMetrics& metrics, const DeathFacts& facts);
// A label value as the exposition format wants it: \\, \" and \n escaped.
std::string escape_label_value(std::string_view value);

}  // namespace deathwatch
