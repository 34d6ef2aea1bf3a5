// --metrics (src/metrics_text.cpp): the textfile is read back and added to, never reset.
#include <doctest/doctest.h>

#include "deathwatch/metrics_text.h"

using namespace deathwatch;

namespace {

DeathFacts death(const char* program, const char* category, std::optional<std::string> signal, int code) {
  DeathFacts f;
  f.program = program;
  f.category = category;
  f.signal = std::move(signal);
  f.exit_code = code;
  f.ended_at_s = 1700000000.5;
  return f;
}

}  // namespace

TEST_CASE("metrics: counts survive a render and a parse, and accumulate") {
  DeathMetrics m;
  add_death(m, death("app", "signal", "SIGKILL", 137));
  add_death(m, death("app", "signal", "SIGKILL", 137));
  add_death(m, death("app", "exit", std::nullopt, 3));
  DeathMetrics back = parse_death_metrics(render_death_metrics(m));
  CHECK(back.deaths == m.deaths);
  CHECK(back.last_exit_code.at("app") == 3);
  CHECK(back.last_death_timestamp.at("app") == doctest::Approx(1700000000.5));
  add_death(back, death("app", "signal", "SIGKILL", 137));
  CHECK(back.deaths.at({"app", "signal", "SIGKILL"}) == 3);
  CHECK(back.deaths.at({"app", "exit", "none"}) == 1);
}

TEST_CASE("metrics: label values with quotes, backslashes and newlines round-trip") {
  DeathMetrics m;
  add_death(m, death("we\"ird\\na\nme", "exit", std::nullopt, 0));
  const std::string text = render_death_metrics(m);
  CHECK(text.find("we\\\"ird\\\\na\\nme") != std::string::npos);
  CHECK(parse_death_metrics(text).deaths == m.deaths);
}

TEST_CASE("metrics: other series and garbage lines are ignored") {
  const auto m = parse_death_metrics(
      "# HELP other x\nother_metric{a=\"b\"} 5\ngarbage\n{\ndeathwatch_deaths_total{command=\"x\"\n"
      "deathwatch_deaths_total{command=\"x\",category=\"oom\",signal=\"SIGKILL\"} 4\n");
  REQUIRE(m.deaths.size() == 1);
  CHECK(m.deaths.begin()->second == 4);
}
