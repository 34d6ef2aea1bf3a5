// The command line (src/cli.cpp): deathwatch [OPTIONS] -- COMMAND [ARG...] | --pid PID.
#include <doctest/doctest.h>

#include <initializer_list>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "deathwatch/cli.h"

using namespace deathwatch;

#include "builders.h"

using namespace deathwatch::testing;

namespace {

using Argv = std::vector<std::string>;

struct Run {
  ParsedCommandLine parsed;
  std::string out;
  std::string err;
};

// Parses "deathwatch <args...>" with stdout and stderr captured.
Run parse(std::initializer_list<const char*> args) {
  std::vector<std::string> storage{"deathwatch"};
  for (const char* a : args) storage.emplace_back(a);
  std::vector<char*> argv;
  for (auto& s : storage) argv.push_back(s.data());
  argv.push_back(nullptr);

  std::ostringstream out, err;
  auto* old_out = std::cout.rdbuf(out.rdbuf());
  auto* old_err = std::cerr.rdbuf(err.rdbuf());
  Run run;
  try {
    run.parsed = parse_command_line(static_cast<int>(storage.size()), argv.data());
  } catch (...) {
    std::cout.rdbuf(old_out);
    std::cerr.rdbuf(old_err);
    throw;
  }
  std::cout.rdbuf(old_out);
  std::cerr.rdbuf(old_err);
  run.out = out.str();
  run.err = err.str();
  return run;
}

void check_usage_error(const Run& run) {
  CHECK_FALSE(run.parsed.options.has_value());
  CHECK(run.parsed.exit_status == 125);
  CHECK(contains(run.err, "deathwatch"));
}

}  // namespace

TEST_CASE("a command after --") {
  const Run run = parse({"--", "cmd", "a", "b"});
  REQUIRE(run.parsed.options.has_value());
  CHECK(run.parsed.exit_status == 0);
  const Options& o = *run.parsed.options;
  CHECK(o.command == Argv{"cmd", "a", "b"});
  CHECK_FALSE(o.output.has_value());
  CHECK_FALSE(o.quiet);
  CHECK(o.verbosity == 0);
  CHECK_FALSE(o.own_cgroup);
  CHECK(o.follow);
  CHECK_FALSE(o.attach_pid.has_value());
  CHECK(run.err.empty());
}

TEST_CASE("options after -- belong to the command") {
  const Run run = parse({"--", "grep", "-v", "-q", "--pid", "x", "-o", "f"});
  REQUIRE(run.parsed.options.has_value());
  const Options& o = *run.parsed.options;
  CHECK(o.command == Argv{"grep", "-v", "-q", "--pid", "x", "-o", "f"});
  CHECK(o.verbosity == 0);
  CHECK_FALSE(o.quiet);
  CHECK_FALSE(o.output.has_value());
  CHECK_FALSE(o.attach_pid.has_value());
}

TEST_CASE("without --, everything from the first positional on belongs to the command") {
  const Run run = parse({"-q", "grep", "-v", "x"});
  REQUIRE(run.parsed.options.has_value());
  const Options& o = *run.parsed.options;
  CHECK(o.quiet);
  CHECK(o.command == Argv{"grep", "-v", "x"});
  CHECK(o.verbosity == 0);
}

TEST_CASE("the command's words reach it byte for byte, brackets and all") {
  // CLI11 reads `[a,b]` as a list: `jq -c '[.a,.b]'` once ran as `jq -c .a .b`.
  const Argv words{"jq", "-c", "[.a,.b]", "[]", "[%s]", "[[1,2]]", "{a,b}", "a=b", "--", "-", ""};
  SUBCASE("after --") {
    const Run run = parse({"--", "jq", "-c", "[.a,.b]", "[]", "[%s]", "[[1,2]]", "{a,b}", "a=b", "--", "-", ""});
    REQUIRE(run.parsed.options.has_value());
    CHECK(run.parsed.options->command == words);
  }
  SUBCASE("without --") {
    const Run run = parse({"-q", "jq", "-c", "[.a,.b]", "[]", "[%s]", "[[1,2]]", "{a,b}", "a=b", "--", "-", ""});
    REQUIRE(run.parsed.options.has_value());
    CHECK(run.parsed.options->quiet);
    CHECK(run.parsed.options->command == words);
  }
  SUBCASE("a command that is itself bracketed") {
    const Run run = parse({"--", "[", "1", "-eq", "1", "]"});
    REQUIRE(run.parsed.options.has_value());
    CHECK(run.parsed.options->command == Argv{"[", "1", "-eq", "1", "]"});
  }
}

TEST_CASE("-- after an option whose value is attached or in the next word") {
  // A value ending in o or p once hid the -- that follows it.
  for (auto args : {std::initializer_list<const char*>{"-ox.zip", "--", "echo", "hi"},
                    std::initializer_list<const char*>{"-qoout.tmp", "--", "echo", "hi"},
                    std::initializer_list<const char*>{"--output=y.zip", "--", "echo", "hi"},
                    std::initializer_list<const char*>{"-qo", "p", "--", "echo", "hi"},
                    std::initializer_list<const char*>{"-o", "--", "--", "echo", "hi"}}) {
    const Run run = parse(args);
    REQUIRE(run.parsed.options.has_value());
    CHECK(run.parsed.options->command == Argv{"echo", "hi"});
    CHECK(run.parsed.options->output.has_value());
  }
  const Run run = parse({"-ox.zip", "--", "echo", "hi"});
  REQUIRE(run.parsed.options.has_value());
  CHECK(run.parsed.options->output == std::optional<std::string>("x.zip"));
}

TEST_CASE("-o FILE -q -v") {
  const Run run = parse({"-o", "f", "-q", "-v", "--", "x"});
  REQUIRE(run.parsed.options.has_value());
  CHECK(run.parsed.exit_status == 0);
  const Options& o = *run.parsed.options;
  CHECK(o.output == std::optional<std::string>("f"));
  CHECK(o.quiet);
  CHECK(o.verbosity == 1);
  CHECK(o.command == Argv{"x"});

  const Run longs = parse({"--output", "death.json", "--quiet", "--verbose", "--", "x", "y"});
  REQUIRE(longs.parsed.options.has_value());
  CHECK(longs.parsed.options->output == std::optional<std::string>("death.json"));
  CHECK(longs.parsed.options->quiet);
  CHECK(longs.parsed.options->verbosity == 1);
  CHECK(longs.parsed.options->command == Argv{"x", "y"});
}

TEST_CASE("-vv counts twice") {
  const Run run = parse({"-vv", "--", "x"});
  REQUIRE(run.parsed.options.has_value());
  CHECK(run.parsed.options->verbosity == 2);

  const Run separate = parse({"-v", "-v", "--", "x"});
  REQUIRE(separate.parsed.options.has_value());
  CHECK(separate.parsed.options->verbosity == 2);
}

TEST_CASE("--pid PID watches a running process: no command") {
  const Run run = parse({"--pid", "123"});
  REQUIRE(run.parsed.options.has_value());
  CHECK(run.parsed.exit_status == 0);
  CHECK(run.parsed.options->attach_pid == std::optional<pid_t>(123));
  CHECK(run.parsed.options->command.empty());
  CHECK(run.parsed.options->follow);

  const Run shorter = parse({"-p", "4242", "-o", "death.json"});
  REQUIRE(shorter.parsed.options.has_value());
  CHECK(shorter.parsed.options->attach_pid == std::optional<pid_t>(4242));
  CHECK(shorter.parsed.options->output == std::optional<std::string>("death.json"));
}

TEST_CASE("--pid and a command together: usage error") {
  const Run run = parse({"--pid", "123", "--", "x"});
  check_usage_error(run);
  CHECK(contains(run.err, "--pid"));
}

TEST_CASE("--pid must be a positive number") {
  SUBCASE("zero") { check_usage_error(parse({"--pid", "0"})); }
  SUBCASE("negative") { check_usage_error(parse({"--pid", "-5"})); }
  SUBCASE("not a number") { check_usage_error(parse({"--pid", "abc"})); }
  SUBCASE("missing") { check_usage_error(parse({"--pid"})); }
  // With a command, an invalid PID is still refused (not silently ignored).
  SUBCASE("zero, with a command") { check_usage_error(parse({"--pid", "0", "--", "x"})); }
  SUBCASE("negative, with a command") { check_usage_error(parse({"--pid", "-5", "--", "x"})); }
}

TEST_CASE("no command: usage error") {
  SUBCASE("no arguments at all") {
    const Run run = parse({});
    check_usage_error(run);
    CHECK(contains(run.err, "no command"));
  }
  SUBCASE("options only") { check_usage_error(parse({"-q", "-o", "f"})); }
  SUBCASE("an empty -- ") { check_usage_error(parse({"--"})); }
}

TEST_CASE("unknown option: usage error") {
  check_usage_error(parse({"--frobnicate", "--", "x"}));
  check_usage_error(parse({"-Z", "--", "x"}));
}

TEST_CASE("--no-follow") {
  const Run run = parse({"--no-follow", "--", "x"});
  REQUIRE(run.parsed.options.has_value());
  CHECK_FALSE(run.parsed.options->follow);

  const Run attached = parse({"--no-follow", "--pid", "7"});
  REQUIRE(attached.parsed.options.has_value());
  CHECK_FALSE(attached.parsed.options->follow);
  CHECK(attached.parsed.options->attach_pid == std::optional<pid_t>(7));
}

TEST_CASE("--cgroup") {
  const Run run = parse({"--cgroup", "--", "x"});
  REQUIRE(run.parsed.options.has_value());
  CHECK(run.parsed.options->own_cgroup);

  const Run with_pid = parse({"--cgroup", "--pid", "5"});
  check_usage_error(with_pid);
  CHECK(contains(with_pid.err, "--cgroup"));
}

TEST_CASE("--version and --help print and stop with status 0") {
  SUBCASE("--version") {
    const Run run = parse({"--version"});
    CHECK_FALSE(run.parsed.options.has_value());
    CHECK(run.parsed.exit_status == 0);
    CHECK(contains(run.out, "deathwatch "));
    CHECK(contains(run.out, DEATHWATCH_VERSION));
  }
  SUBCASE("--help") {
    const Run run = parse({"--help"});
    CHECK_FALSE(run.parsed.options.has_value());
    CHECK(run.parsed.exit_status == 0);
    CHECK(contains(run.out, "--pid"));
    CHECK(contains(run.out, "--no-follow"));
  }
  SUBCASE("-h with a command") {
    const Run run = parse({"-h", "--", "x"});
    CHECK_FALSE(run.parsed.options.has_value());
    CHECK(run.parsed.exit_status == 0);
  }
}
