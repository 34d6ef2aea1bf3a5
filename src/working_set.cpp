#include "deathwatch/working_set.h"

#include <sys/mman.h>

#include <charconv>
#include <optional>
#include <string>

#include "deathwatch/procfs.h"

namespace deathwatch {

namespace {

std::optional<std::uintptr_t> parse_hex(std::string_view text) {
  std::uintptr_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 16);
  if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// The words of a line, split on spaces (the path, the sixth, may itself hold spaces: it is
// the rest of the line).
std::vector<std::string_view> header_fields(std::string_view line) {
  std::vector<std::string_view> fields;
  std::size_t pos = 0;
  while (pos < line.size() && fields.size() < 5) {
    while (pos < line.size() && line[pos] == ' ') ++pos;
    const std::size_t end = line.find(' ', pos);
    fields.push_back(line.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos));
    pos = end == std::string_view::npos ? line.size() : end;
  }
  while (pos < line.size() && line[pos] == ' ') ++pos;
  fields.push_back(line.substr(pos));
  return fields;
}

// "Rss:  8 kB" -> 8; nullopt when the line is not `key`.
std::optional<std::size_t> kib_field(std::string_view line, std::string_view key) {
  if (line.substr(0, key.size()) != key) return std::nullopt;
  std::string_view rest = line.substr(key.size());
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
  std::size_t value = 0;
  auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), value);
  if (ec != std::errc{}) return std::nullopt;
  return value;
}

struct Candidate {
  DroppableMapping mapping;
  bool eligible = false;
  bool has_own_copy = false;
  bool complete = false;  // its last line (VmFlags) was seen: not cut off
};

// VmFlags that make a mapping anything but plain file pages: locked, I/O or PFN maps, mixed
// maps, hugetlb, "don't dump" kernel memory, userfaultfd.
bool plain_vm_flags(std::string_view flags) {
  for (std::string_view bad : {" lo", " io", " pf", " mm", " ht", " dd", " um", " uw"}) {
    for (std::size_t at = flags.find(bad); at != std::string_view::npos; at = flags.find(bad, at + 1)) {
      const std::size_t after = at + bad.size();
      if (after == flags.size() || flags[after] == ' ') return false;
    }
  }
  return true;
}

// A private, read-only (or read-execute) mapping of a regular file. Devices, memfds and
// pseudo-files ("[vdso]", "anon_inode:...") are never dropped.
bool eligible_header(const std::vector<std::string_view>& f) {
  if (f.size() < 6) return false;
  const std::string_view perms = f[1], inode = f[4], path = f[5];
  if (perms.size() != 4 || perms[1] != '-' || perms[3] != 'p') return false;
  if (inode == "0" || path.empty() || path.front() != '/') return false;
  return path.rfind("/dev/", 0) != 0 && path.rfind("/memfd:", 0) != 0;
}

}  // namespace

std::vector<DroppableMapping> droppable_mappings(std::string_view smaps) {
  std::vector<DroppableMapping> out;
  std::optional<Candidate> current;
  auto finish = [&] {
    if (current && current->complete && current->eligible && !current->has_own_copy &&
        current->mapping.resident_kib > 0)
      out.push_back(current->mapping);
    current.reset();
  };
  for (std::string_view line : split_lines(smaps)) {
    // A header starts with the range: hex digits, then '-'.
    const std::size_t dash = line.find('-');
    const std::size_t space = line.find(' ');
    if (dash != std::string_view::npos && space != std::string_view::npos && dash < space) {
      auto start = parse_hex(line.substr(0, dash));
      auto end = parse_hex(line.substr(dash + 1, space - dash - 1));
      if (start && end) {
        finish();
        current = Candidate{};
        current->mapping.start = *start;
        current->mapping.end = *end;
        current->eligible = *end > *start && eligible_header(header_fields(line));
        continue;
      }
    }
    if (!current) continue;
    if (auto rss = kib_field(line, "Rss:")) current->mapping.resident_kib = *rss;
    // This process's own copies of file pages (relocations, a debugger's breakpoint), in RAM
    // (Anonymous, dirty) or swapped out (Swap): dropping them would bring back the file's
    // content.
    for (std::string_view key : {"Anonymous:", "Swap:", "Private_Dirty:", "Shared_Dirty:"})
      if (auto kib = kib_field(line, key); kib && *kib > 0) current->has_own_copy = true;
    if (line.substr(0, 8) == "VmFlags:") {
      current->complete = true;
      if (!plain_vm_flags(line.substr(8))) current->eligible = false;
    }
  }
  finish();
  return out;
}

std::size_t release_file_backed_pages() {
  // Between reading smaps and madvise another thread could unmap a range and reuse its
  // address: only a single-threaded process drops anything.
  if (list_numeric_entries("/proc/self/task").size() != 1) return 0;
  constexpr std::size_t kLimit = 4 << 20;
  auto smaps = read_text_file("/proc/self/smaps", kLimit);
  if (!smaps || smaps->size() >= kLimit) return 0;  // cut off: not all of it is known
  std::size_t released = 0;
  for (const auto& m : droppable_mappings(*smaps)) {
    // Fails only for a mapping that cannot be dropped (locked): it then stays as it is.
    if (::madvise(reinterpret_cast<void*>(m.start), m.end - m.start, MADV_DONTNEED) == 0)
      released += m.resident_kib;
  }
  return released;
}

}  // namespace deathwatch
