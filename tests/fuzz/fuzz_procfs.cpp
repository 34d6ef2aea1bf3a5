// libFuzzer target: the /proc parsers (stat, status, cmdline, mountinfo) on arbitrary text.
// A process can put anything in its comm and command line; a parser must never crash on it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "deathwatch/procfs.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto st = deathwatch::parse_proc_stat(text)) {
    if (st->comm.size() > size) __builtin_trap();  // comm is a piece of the text
  }
  (void)deathwatch::parse_status_uid(text);
  (void)deathwatch::parse_status_tgid(text);
  (void)deathwatch::status_value(text, "SigCgt");
  for (int signo : {1, 9, 15, 31, 32, 64, 65, 0, -1}) {
    (void)deathwatch::parse_disposition(text, signo);
    (void)deathwatch::parse_stat_disposition(text, signo);
  }
  const auto args = deathwatch::split_cmdline(text);
  std::size_t total = 0;
  for (const auto& a : args) total += a.size();
  if (total > size) __builtin_trap();
  (void)deathwatch::parse_proc_mount_options(text);
  (void)deathwatch::split_lines(text);
  return 0;
}
