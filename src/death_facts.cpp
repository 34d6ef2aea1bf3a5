#include "deathwatch/death_facts.h"

#include <chrono>

#include "deathwatch/signals.h"

namespace deathwatch {

DeathFacts death_facts(const Certificate& c) {
  DeathFacts f;
  f.pid = c.process.pid;
  for (const auto& word : c.process.argv) {
    if (!f.command.empty()) f.command += ' ';
    f.command += word;
  }
  if (!c.process.argv.empty()) {
    const std::string& first = c.process.argv.front();
    const auto slash = first.rfind('/');
    f.program = slash == std::string::npos ? first : first.substr(slash + 1);
  }
  switch (c.outcome.kind) {
    case OutcomeKind::Exited: f.outcome = "exited"; break;
    case OutcomeKind::Killed: f.outcome = "killed"; break;
    case OutcomeKind::Alive: f.outcome = "alive"; break;
    case OutcomeKind::Unknown: f.outcome = "unknown"; break;
  }
  if (c.outcome.kind == OutcomeKind::Exited) f.exit_code = c.outcome.exit_code;
  if (c.outcome.signal) {
    f.signal = signal_name(*c.outcome.signal);
    if (c.outcome.kind == OutcomeKind::Killed) f.exit_code = 128 + *c.outcome.signal;
  }
  f.category = category_name(c.cause.category);
  f.confidence = confidence_name(c.cause.confidence);
  if (const auto& s = c.cause.sender) {
    f.sender_pid = s->pid;
    f.sender_comm = s->comm;
    f.sender_uid = s->uid;
    f.sender_unit = s->unit;
  }
  f.summary = c.cause.summary;
  const auto end = c.process.ended_at.value_or(WallClock::now());
  f.ended_at_s = std::chrono::duration<double>(end.time_since_epoch()).count();
  return f;
}

std::vector<std::pair<std::string, std::string>> death_fields(const DeathFacts& f) {
  std::vector<std::pair<std::string, std::string>> out;
  auto put = [&out](const char* key, const std::optional<std::string>& value) {
    if (value && !value->empty()) out.emplace_back(key, *value);
  };
  auto num = [](auto v) -> std::optional<std::string> {
    return v ? std::optional<std::string>(std::to_string(*v)) : std::nullopt;
  };
  put("PID", f.pid > 0 ? std::optional<std::string>(std::to_string(f.pid)) : std::nullopt);
  put("COMMAND", f.command);
  put("OUTCOME", f.outcome);
  put("EXIT_CODE", num(f.exit_code));
  put("SIGNAL", f.signal);
  put("CATEGORY", f.category);
  put("CONFIDENCE", f.confidence);
  put("SENDER_PID", num(f.sender_pid));
  put("SENDER_COMM", f.sender_comm);
  put("SENDER_UID", num(f.sender_uid));
  put("SENDER_UNIT", f.sender_unit);
  put("SUMMARY", f.summary);
  return out;
}

}  // namespace deathwatch
