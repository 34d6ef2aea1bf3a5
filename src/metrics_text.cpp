#include "deathwatch/metrics_text.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace deathwatch {

namespace {

constexpr const char* kDeaths = "deathwatch_deaths_total";
constexpr const char* kLastDeath = "deathwatch_last_death_timestamp_seconds";
constexpr const char* kLastExit = "deathwatch_last_exit_code";

// `name{k="v",...} value` -> name, labels, value. False for anything else.
bool parse_sample(std::string_view line, std::string& name, std::map<std::string, std::string>& labels,
                  double& value) {
  const auto brace = line.find('{');
  if (brace == std::string_view::npos) return false;
  name = std::string(line.substr(0, brace));
  std::size_t i = brace + 1;
  labels.clear();
  while (i < line.size() && line[i] != '}') {
    const auto eq = line.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"') return false;
    const std::string key(line.substr(i, eq - i));
    std::string v;
    std::size_t k = eq + 2;
    for (; k < line.size() && line[k] != '"'; ++k) {
      if (line[k] == '\\' && k + 1 < line.size()) {
        ++k;
        v += line[k] == 'n' ? '\n' : line[k];
      } else {
        v += line[k];
      }
    }
    if (k >= line.size()) return false;
    labels[key] = v;
    i = k + 1;
    if (i < line.size() && line[i] == ',') ++i;
  }
  if (i >= line.size()) return false;
  const std::string rest(line.substr(i + 1));
  char* end = nullptr;
  value = std::strtod(rest.c_str(), &end);
  return end != rest.c_str();
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::string escape_label_value(std::string_view value) {
  std::string out;
  for (char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

DeathMetrics parse_death_metrics(std::string_view text) {
  DeathMetrics m;
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    const std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    if (line.empty() || line.front() == '#' || !parse_sample(line, name, labels, value)) continue;
    const std::string command = labels["command"];
    // A damaged file may hold anything: only values an integer can take are read back.
    const bool integral = std::isfinite(value) && value >= -1e15 && value <= 1e15;
    if (name == kDeaths && integral && value >= 0)
      m.deaths[{command, labels["category"], labels["signal"]}] = static_cast<std::uint64_t>(value);
    else if (name == kLastDeath && std::isfinite(value))
      m.last_death_timestamp[command] = value;
    else if (name == kLastExit && integral)
      m.last_exit_code[command] = static_cast<long long>(value);
  }
  return m;
}

void add_death(DeathMetrics& m, const DeathFacts& f) {
  const std::string command = f.program.empty() ? "unknown" : f.program;
  m.deaths[{command, f.category, f.signal.value_or("none")}] += 1;
  m.last_death_timestamp[command] = f.ended_at_s;
  if (f.exit_code) m.last_exit_code[command] = *f.exit_code;
}

std::string render_death_metrics(const DeathMetrics& m) {
  std::string out;
  out += std::string("# HELP ") + kDeaths + " Ends of commands run under deathwatch, by cause category and signal.\n";
  out += std::string("# TYPE ") + kDeaths + " counter\n";
  for (const auto& [key, count] : m.deaths) {
    const auto& [command, category, signal] = key;
    out += std::string(kDeaths) + "{command=\"" + escape_label_value(command) + "\",category=\"" +
           escape_label_value(category) + "\",signal=\"" + escape_label_value(signal) + "\"} " +
           std::to_string(count) + "\n";
  }
  out += std::string("# HELP ") + kLastDeath + " When the command last ended (Unix time).\n";
  out += std::string("# TYPE ") + kLastDeath + " gauge\n";
  for (const auto& [command, t] : m.last_death_timestamp)
    out += std::string(kLastDeath) + "{command=\"" + escape_label_value(command) + "\"} " + number(t) + "\n";
  out += std::string("# HELP ") + kLastExit + " The command's last exit status (128+N for a death by signal N).\n";
  out += std::string("# TYPE ") + kLastExit + " gauge\n";
  for (const auto& [command, code] : m.last_exit_code)
    out += std::string(kLastExit) + "{command=\"" + escape_label_value(command) + "\"} " + std::to_string(code) + "\n";
  return out;
}

}  // namespace deathwatch
