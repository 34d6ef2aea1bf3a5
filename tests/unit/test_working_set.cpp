// Which of deathwatch's own mappings are dropped from its working set when idle
// (src/working_set.cpp): file-backed, private, read-only, never with a copied page.
#include <doctest/doctest.h>

#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "deathwatch/procfs.h"
#include "deathwatch/working_set.h"

using namespace deathwatch;

namespace {

std::string mapping(const std::string& header, int rss_kib, int anon_kib, int swap_kib = 0,
                    const std::string& vm_flags = "rd ex mr mw me") {
  return header + "\nSize:                 64 kB\nRss:                  " + std::to_string(rss_kib) +
         " kB\nPss:                  4 kB\nPrivate_Dirty:        " + std::to_string(anon_kib) +
         " kB\nAnonymous:            " + std::to_string(anon_kib) + " kB\nSwap:                 " +
         std::to_string(swap_kib) + " kB\nSwapPss:              " + std::to_string(swap_kib) +
         " kB\nVmFlags: " + vm_flags + "\n";
}

}  // namespace

TEST_CASE("droppable_mappings: code and read-only data of files, resident, never copied") {
  const std::string smaps =
      mapping("55d000000000-55d000010000 r-xp 00001000 fe:00 4242 /usr/bin/deathwatch", 40, 0) +
      // The relocated part of read-only data (RELRO): copies of its own, kept.
      mapping("55d000010000-55d000012000 r--p 00010000 fe:00 4242 /usr/bin/deathwatch", 8, 8) +
      // Writable data, the heap, anonymous memory, the vdso: never.
      mapping("55d000012000-55d000013000 rw-p 00012000 fe:00 4242 /usr/bin/deathwatch", 4, 4) +
      mapping("55d001000000-55d001100000 rw-p 00000000 00:00 0                          [heap]", 100, 100) +
      mapping("7f0000000000-7f0000001000 r--p 00000000 00:00 0 ", 4, 0) +
      mapping("7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0                          [vdso]", 8, 0) +
      // A shared mapping, a device and a memfd: not ours to drop.
      mapping("7f1000000000-7f1000001000 r--s 00000000 fe:00 77 /var/lib/thing", 4, 0) +
      mapping("7f2000000000-7f2000001000 r--p 00000000 00:05 12 /dev/zero", 4, 0) +
      mapping("7f3000000000-7f3000001000 r--p 00000000 00:01 13 /memfd:blob (deleted)", 4, 0) +
      // Nothing resident: nothing to gain.
      mapping("7f4000000000-7f4000010000 r--p 00000000 fe:00 88 /usr/lib/x86_64-linux-gnu/libm.so.6", 0, 0) +
      // A path with a space, a library's code.
      mapping("7f5000000000-7f5000020000 r-xp 00028000 fe:00 99 /opt/my app/libc.so.6", 120, 0);
  const auto found = droppable_mappings(smaps);
  REQUIRE(found.size() == 2);
  CHECK(found[0] == DroppableMapping{0x55d000000000, 0x55d000010000, 40});
  CHECK(found[1] == DroppableMapping{0x7f5000000000, 0x7f5000020000, 120});
}

TEST_CASE("droppable_mappings: copies in swap, locked or special mappings, a cut-off record") {
  // RELRO whose relocated pages are all swapped out: Anonymous 0, but copies all the same.
  CHECK(droppable_mappings(mapping("1000-3000 r--p 0 fe:00 5 /usr/bin/x", 4, 0, 4)).empty());
  // mlock'ed, a PFN map, a mixed map: not plain file pages.
  CHECK(droppable_mappings(mapping("1000-3000 r-xp 0 fe:00 5 /usr/bin/x", 8, 0, 0, "rd ex mr mw me lo")).empty());
  CHECK(droppable_mappings(mapping("1000-3000 r--p 0 fe:00 5 /usr/bin/x", 8, 0, 0, "rd mr pf")).empty());
  CHECK(droppable_mappings(mapping("1000-3000 r--p 0 fe:00 5 /usr/bin/x", 8, 0, 0, "rd mm mr")).empty());
  // Flags that only look alike ("mr", "me") keep it eligible.
  CHECK(droppable_mappings(mapping("1000-3000 r--p 0 fe:00 5 /usr/bin/x", 8, 0, 0, "rd mr mw me")).size() == 1);
  // Cut off before its last line (VmFlags): what follows Rss is unknown.
  CHECK(droppable_mappings("1000-3000 r-xp 0 fe:00 5 /usr/bin/x\nRss: 8 kB\n").empty());
}

TEST_CASE("droppable_mappings: malformed text finds nothing and does not throw") {
  CHECK(droppable_mappings("").empty());
  CHECK(droppable_mappings("garbage-line here\nRss: x kB\n").empty());
  CHECK(droppable_mappings("zz-yy r-xp 0 fe:00 1 /bin/x\nRss: 4 kB\n").empty());
  // A header cut short (no path).
  CHECK(droppable_mappings("1000-2000 r-xp 0\nRss: 4 kB\n").empty());
}

TEST_CASE("release_file_backed_pages: this process's code leaves RSS and still runs") {
  // The test binary's own code is file-backed: once dropped, it faults back in when run.
  const bool single_threaded = list_numeric_entries("/proc/self/task").size() == 1;
  const std::size_t released = release_file_backed_pages();
  if (single_threaded) {
    CHECK(released > 0);
  } else {
    MESSAGE("another thread runs in this test process: nothing may be dropped");
    CHECK(released == 0);
  }
  // Still alive and correct after its code was dropped: this very check runs from it.
  CHECK(droppable_mappings("").empty());
}
