// deathwatch's own working set. A watch runs for months: what stays resident should be what
// the event loop uses, not the start-up (command line, backend loading, outputs opened).
//
// Most of deathwatch's resident memory is file-backed code and read-only data of its own
// binary and libraries, mapped in as start-up runs through them. Once the watch is idle,
// those mappings are dropped (MADV_DONTNEED); a page the loop needs again is mapped back from
// the page cache by a minor fault. Only mappings that are private, not writable, plain file
// pages (not locked, not I/O) and hold no copied page, in RAM or in swap, are dropped: for
// them, the file is the content. Only a single-threaded process drops anything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace deathwatch {

struct DroppableMapping {
  std::uintptr_t start = 0;
  std::uintptr_t end = 0;
  std::size_t resident_kib = 0;
  bool operator==(const DroppableMapping&) const = default;
};

// From the text of /proc/self/smaps: the file-backed mappings that can be dropped (see
// above) and have resident pages.
std::vector<DroppableMapping> droppable_mappings(std::string_view smaps);

// Drops them for this process. Returns the number of KiB that were resident in them; 0 when
// /proc/self/smaps cannot be read whole or another thread runs (nothing is dropped then).
std::size_t release_file_backed_pages();

}  // namespace deathwatch
