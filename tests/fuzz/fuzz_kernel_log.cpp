// libFuzzer target: kernel log lines (/dev/kmsg records) as the OOM evidence reads them,
// the cgroup and limits files it reads beside them, and `systemctl show`'s Exec lines.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "deathwatch/death_scene.h"
#include "deathwatch/oom_evidence.h"
#include "deathwatch/unit_install.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (pid_t pid : {1, 42, 4242, 2147483647}) (void)deathwatch::parse_kernel_oom_line(text, pid);
  if (auto cg = deathwatch::parse_memory_cgroup(text)) {
    (void)cg->counter_file();
    (void)cg->limit_file();
  }
  (void)deathwatch::parse_oom_kill_count(text);
  (void)deathwatch::parse_core_limit(text);
  for (const auto& cmd : deathwatch::parse_exec_commands(text))  // `systemctl show` output
    (void)deathwatch::render_drop_in("x.service", cmd, "/usr/bin/deathwatch");
  for (std::uint64_t address : {0ULL, 0x1000ULL, 0x7fffffffe000ULL, ~0ULL}) (void)deathwatch::mapping_end(text, address);
  return 0;
}
