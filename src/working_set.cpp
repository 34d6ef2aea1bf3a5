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
  bool has_anonymous = false;
};

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
    if (current && current->eligible && !current->has_anonymous && current->mapping.resident_kib > 0)
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
    // Anonymous pages are this process's own copies (relocations, a debugger's breakpoint):
    // dropping them would bring back the file's content.
    if (auto anon = kib_field(line, "Anonymous:"); anon && *anon > 0) current->has_anonymous = true;
  }
  finish();
  return out;
}

std::size_t release_file_backed_pages() {
  auto smaps = read_text_file("/proc/self/smaps", 1 << 20);
  if (!smaps) return 0;
  std::size_t released = 0;
  for (const auto& m : droppable_mappings(*smaps)) {
    // Fails only for a mapping that cannot be dropped (locked): it then stays as it is.
    if (::madvise(reinterpret_cast<void*>(m.start), m.end - m.start, MADV_DONTNEED) == 0)
      released += m.resident_kib;
  }
  return released;
}

}  // namespace deathwatch
