// The pure parsers of OOM evidence (src/oom_evidence.cpp): the memory cgroup of a process
// from /proc/<pid>/cgroup, the oom_kill counters, and the kernel log line naming a victim.
#include <doctest/doctest.h>

#include <optional>
#include <string>

#include "deathwatch/oom_evidence.h"

using namespace deathwatch;

#include "builders.h"

using namespace deathwatch::testing;

namespace {

constexpr const char* kGlobalOomLine =
    "Out of memory: Killed process 4242 (python3) total-vm:1048576kB, anon-rss:524288kB, "
    "file-rss:1024kB, shmem-rss:0kB, UID:0 pgtables:1100kB oom_score_adj:0";
constexpr const char* kMemcgOomLine =
    "Memory cgroup out of memory: Killed process 4242 (python3) total-vm:2097152kB, "
    "anon-rss:262144kB, file-rss:2048kB, shmem-rss:512kB, UID:1000 pgtables:900kB "
    "oom_score_adj:200";
constexpr const char* kKmsgPrefix = "6,1234,5678,-;";

}  // namespace

TEST_CASE("parse_memory_cgroup: hybrid host, the v1 memory line wins over the unified one") {
  const char* text =
      "12:pids:/system.slice/app.service\n"
      "6:devices:/system.slice/app.service\n"
      "4:memory:/system.slice/app.service\n"
      "1:name=systemd:/system.slice/app.service\n"
      "0::/\n";
  const auto cg = parse_memory_cgroup(text);
  REQUIRE(cg.has_value());
  CHECK(cg->version == 1);
  CHECK(cg->path == "/system.slice/app.service");
  CHECK(cg->directory == "/sys/fs/cgroup/memory/system.slice/app.service");
}

TEST_CASE("parse_memory_cgroup: the unified line first does not hide a later memory line") {
  const char* text =
      "0::/user.slice\n"
      "4:memory:/system.slice/app.service\n";
  const auto cg = parse_memory_cgroup(text);
  REQUIRE(cg.has_value());
  CHECK(cg->version == 1);
  CHECK(cg->path == "/system.slice/app.service");
  CHECK(cg->directory == "/sys/fs/cgroup/memory/system.slice/app.service");
}

TEST_CASE("parse_memory_cgroup: memory in a combined controller list") {
  SUBCASE("last in the list") {
    const auto cg = parse_memory_cgroup("3:net_cls,net_prio:/\n5:cpu,memory:/x\n0::/\n");
    REQUIRE(cg.has_value());
    CHECK(cg->version == 1);
    CHECK(cg->path == "/x");
    CHECK(cg->directory == "/sys/fs/cgroup/memory/x");
  }
  SUBCASE("first in the list") {
    const auto cg = parse_memory_cgroup("5:memory,cpu:/y/z\n");
    REQUIRE(cg.has_value());
    CHECK(cg->version == 1);
    CHECK(cg->path == "/y/z");
    CHECK(cg->directory == "/sys/fs/cgroup/memory/y/z");
  }
  SUBCASE("a named hierarchy whose name contains 'memory' is not the memory controller") {
    const auto cg = parse_memory_cgroup("7:name=memorywatch:/z\n0::/app\n");
    REQUIRE(cg.has_value());
    CHECK(cg->version == 2);
    CHECK(cg->path == "/app");
  }
  SUBCASE("'memory' only in a path is not the memory controller") {
    const auto cg = parse_memory_cgroup("6:devices:/memory/x\n0::/app\n");
    REQUIRE(cg.has_value());
    CHECK(cg->version == 2);
    CHECK(cg->path == "/app");
  }
}

TEST_CASE("parse_memory_cgroup: the v1 root cgroup") {
  const auto cg = parse_memory_cgroup("4:memory:/\n0::/\n");
  REQUIRE(cg.has_value());
  CHECK(cg->version == 1);
  CHECK(cg->path == "/");
  CHECK(cg->directory == "/sys/fs/cgroup/memory");
}

TEST_CASE("parse_memory_cgroup: pure cgroup v2") {
  const auto cg = parse_memory_cgroup("0::/user.slice/u.service\n");
  REQUIRE(cg.has_value());
  CHECK(cg->version == 2);
  CHECK(cg->path == "/user.slice/u.service");
  CHECK(cg->directory.empty());

  // No trailing newline, and a path with a colon in it.
  const auto colon = parse_memory_cgroup("0::/system.slice/containerd.service/kubepods:cri:abc");
  REQUIRE(colon.has_value());
  CHECK(colon->version == 2);
  CHECK(colon->path == "/system.slice/containerd.service/kubepods:cri:abc");
}

TEST_CASE("parse_memory_cgroup: neither a memory nor a unified line") {
  CHECK_FALSE(parse_memory_cgroup("12:pids:/a\n4:cpu,cpuacct:/b\n1:name=systemd:/c\n").has_value());
  CHECK_FALSE(parse_memory_cgroup("").has_value());
  CHECK_FALSE(parse_memory_cgroup("garbage without colons\n").has_value());
}

TEST_CASE("MemoryCgroup counter_file and limit_file") {
  MemoryCgroup v1{1, "/system.slice/app.service", "/sys/fs/cgroup/memory/system.slice/app.service"};
  CHECK(v1.counter_file() == "/sys/fs/cgroup/memory/system.slice/app.service/memory.oom_control");
  CHECK(v1.limit_file() == "/sys/fs/cgroup/memory/system.slice/app.service/memory.limit_in_bytes");

  MemoryCgroup v2{2, "/user.slice/u.service", "/sys/fs/cgroup/user.slice/u.service"};
  CHECK(v2.counter_file() == "/sys/fs/cgroup/user.slice/u.service/memory.events");
  CHECK(v2.limit_file() == "/sys/fs/cgroup/user.slice/u.service/memory.max");
}

TEST_CASE("parse_oom_kill_count: v1 memory.oom_control") {
  const auto n = parse_oom_kill_count("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n");
  REQUIRE(n.has_value());
  CHECK(*n == 3);
}

TEST_CASE("parse_oom_kill_count: v2 memory.events, oom_group_kill is another counter") {
  const auto n = parse_oom_kill_count("low 0\nhigh 0\nmax 12\noom 2\noom_kill 1\noom_group_kill 0\n");
  REQUIRE(n.has_value());
  CHECK(*n == 1);

  // oom_group_kill listed first, with a different value, is still not oom_kill.
  const auto m = parse_oom_kill_count("oom_group_kill 9\noom 2\noom_kill 5\n");
  REQUIRE(m.has_value());
  CHECK(*m == 5);

  // Only oom_group_kill (and oom): no oom_kill counter.
  CHECK_FALSE(parse_oom_kill_count("oom 2\noom_group_kill 7\n").has_value());
}

TEST_CASE("parse_oom_kill_count: /proc/vmstat") {
  const char* vmstat =
      "nr_free_pages 1984523\n"
      "pgmajfault 12345\n"
      "oom_kill 17\n"
      "numa_hit 0\n"
      "unevictable_pgs_culled 0";
  const auto n = parse_oom_kill_count(vmstat);
  REQUIRE(n.has_value());
  CHECK(*n == 17);
  // Large values and no trailing newline.
  CHECK(parse_oom_kill_count("pgfault 1\noom_kill 4294967301") == std::optional<long long>(4294967301LL));
}

TEST_CASE("parse_oom_kill_count: missing") {
  CHECK_FALSE(parse_oom_kill_count("").has_value());
  CHECK_FALSE(parse_oom_kill_count("oom_kill_disable 0\nunder_oom 0\n").has_value());
  CHECK_FALSE(parse_oom_kill_count("low 0\nhigh 0\nmax 0\noom 0\n").has_value());
}

TEST_CASE("parse_kernel_oom_line: global OOM, plain and with the /dev/kmsg prefix") {
  for (const std::string& line : {std::string(kGlobalOomLine), kKmsgPrefix + std::string(kGlobalOomLine)}) {
    CAPTURE(line);
    const auto oom = parse_kernel_oom_line(line, 4242);
    REQUIRE(oom.has_value());
    CHECK(oom->pid == 4242);
    CHECK(oom->source == "kernel log");
    CHECK(oom->confidence == Confidence::Certain);
    CHECK(oom->total_vm_kib == std::optional<long long>(1048576));
    CHECK(oom->anon_rss_kib == std::optional<long long>(524288));
    CHECK(oom->file_rss_kib == std::optional<long long>(1024));
    CHECK(oom->shmem_rss_kib == std::optional<long long>(0));
    REQUIRE(oom->evidence.size() == 1);
    // The kmsg prefix is dropped from the evidence.
    CHECK(oom->evidence[0] == "kernel log: " + std::string(kGlobalOomLine));
  }
}

TEST_CASE("parse_kernel_oom_line: memory cgroup OOM") {
  for (const std::string& line : {std::string(kMemcgOomLine), kKmsgPrefix + std::string(kMemcgOomLine)}) {
    CAPTURE(line);
    const auto oom = parse_kernel_oom_line(line, 4242);
    REQUIRE(oom.has_value());
    CHECK(oom->pid == 4242);
    CHECK(oom->total_vm_kib == std::optional<long long>(2097152));
    CHECK(oom->anon_rss_kib == std::optional<long long>(262144));
    CHECK(oom->file_rss_kib == std::optional<long long>(2048));
    CHECK(oom->shmem_rss_kib == std::optional<long long>(512));
    REQUIRE(oom->evidence.size() == 1);
    CHECK(oom->evidence[0] == "kernel log: " + std::string(kMemcgOomLine));
  }
}

TEST_CASE("parse_kernel_oom_line: a record as read from /dev/kmsg, newline included") {
  // read(2) on /dev/kmsg returns one record ending with '\n' (OomProbe keeps it as read).
  const std::string record = kKmsgPrefix + std::string(kGlobalOomLine) + "\n";
  const auto oom = parse_kernel_oom_line(record, 4242);
  REQUIRE(oom.has_value());
  CHECK(oom->shmem_rss_kib == std::optional<long long>(0));
  REQUIRE(oom->evidence.size() == 1);
  CAPTURE(oom->evidence[0]);
  CHECK_FALSE(contains(oom->evidence[0], "\n"));
}

TEST_CASE("parse_kernel_oom_line: another pid does not match") {
  const std::string line_42424 =
      std::string(kKmsgPrefix) +
      "Out of memory: Killed process 42424 (java) total-vm:1048576kB, anon-rss:524288kB, "
      "file-rss:1024kB, shmem-rss:0kB, UID:0 pgtables:1100kB oom_score_adj:0";
  CHECK_FALSE(parse_kernel_oom_line(line_42424, 4242).has_value());
  CHECK(parse_kernel_oom_line(line_42424, 42424).has_value());
  // Nor a pid that is a suffix of the victim's.
  CHECK_FALSE(parse_kernel_oom_line(kGlobalOomLine, 242).has_value());
  CHECK_FALSE(parse_kernel_oom_line(kGlobalOomLine, 424).has_value());
  CHECK_FALSE(parse_kernel_oom_line(kGlobalOomLine, 42424).has_value());
}

TEST_CASE("parse_kernel_oom_line: lines that are not a kill of the pid") {
  // The "invoked oom-killer" line names the allocating task, not the victim.
  CHECK_FALSE(parse_kernel_oom_line(
                  "6,1200,5600,-;python3 invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|"
                  "__GFP_COMP), order=0, oom_score_adj=0",
                  4242)
                  .has_value());
  CHECK_FALSE(parse_kernel_oom_line(
                  "6,1235,5679,-;oom_reaper: reaped process 4242 (python3), now anon-rss:0kB, "
                  "file-rss:0kB, shmem-rss:0kB",
                  4242)
                  .has_value());
  CHECK_FALSE(parse_kernel_oom_line("", 4242).has_value());
}

TEST_CASE("parse_kernel_oom_line: missing memory fields stay null") {
  const auto oom = parse_kernel_oom_line("Killed process 4242 (x)", 4242);
  REQUIRE(oom.has_value());
  CHECK_FALSE(oom->total_vm_kib.has_value());
  CHECK_FALSE(oom->anon_rss_kib.has_value());
  CHECK_FALSE(oom->file_rss_kib.has_value());
  CHECK_FALSE(oom->shmem_rss_kib.has_value());
}
