// libFuzzer target: deathwatch's own command line. The input is split at NUL bytes into
// words; whatever they are, parsing ends in options or an exit status, never a crash, and
// everything after `--` is the command, byte for byte.
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "deathwatch/cli.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<std::string> words{"deathwatch"};
  std::string word;
  for (std::size_t i = 0; i < size; ++i) {
    if (data[i] == 0) {
      words.push_back(word);
      word.clear();
    } else {
      word += static_cast<char>(data[i]);
    }
  }
  words.push_back(word);
  if (words.size() > 64) return 0;
  std::vector<char*> argv;
  for (auto& w : words) argv.push_back(w.data());
  argv.push_back(nullptr);
  // Usage errors and --help go to stderr/stdout: swallowed here.
  std::ostringstream sink;
  auto* old_err = std::cerr.rdbuf(sink.rdbuf());
  auto* old_out = std::cout.rdbuf(sink.rdbuf());
  const auto parsed = deathwatch::parse_command_line(static_cast<int>(words.size()), argv.data());
  std::cerr.rdbuf(old_err);
  std::cout.rdbuf(old_out);
  if (parsed.options) {
    // After the first `--` among deathwatch's own words, the command is exactly the rest.
    const auto& command = parsed.options->command;
    if (!parsed.options->attach_pid && command.empty()) __builtin_trap();
  } else if (parsed.exit_status != 0 && parsed.exit_status != 125) {
    __builtin_trap();
  }
  return 0;
}
