// Helpers shared by jvm_attach.cpp and jvm_agent.cpp (not part of the public API).
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "deathwatch/procfs.h"

namespace deathwatch::jvm_detail {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

inline std::string proc(pid_t pid, const char* leaf) { return "/proc/" + std::to_string(pid) + "/" + leaf; }

// Splits JAVA_TOOL_OPTIONS-style text at whitespace, dropping quote characters.
inline std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> words;
  std::string word;
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      if (!word.empty()) words.push_back(std::exchange(word, {}));
    } else if (c != '"' && c != '\'') {
      word += c;
    }
  }
  if (!word.empty()) words.push_back(word);
  return words;
}

inline std::optional<std::string> env_value(std::string_view environ, std::string_view key) {
  for (const auto& entry : split_cmdline(environ))
    if (entry.size() > key.size() && entry.compare(0, key.size(), key) == 0 && entry[key.size()] == '=')
      return entry.substr(key.size() + 1);
  return std::nullopt;
}

inline std::optional<std::string> release_value(std::string_view release, std::string_view key) {
  for (auto line : split_lines(release)) {
    if (line.size() <= key.size() + 1 || line.substr(0, key.size()) != key || line[key.size()] != '=')
      continue;
    std::string value(line.substr(key.size() + 1));
    value.erase(std::remove(value.begin(), value.end(), '"'), value.end());
    return value;
  }
  return std::nullopt;
}

// HotSpot process state: alive and not a zombie.
inline bool alive(pid_t pid) {
  auto st = read_proc_stat(pid);
  return st.ok() && st->state != 'Z' && st->state != 'X';
}

inline std::vector<std::string> thread_names(pid_t pid) {
  std::vector<std::string> names;
  for (pid_t tid : list_numeric_entries(proc(pid, "task")))
    if (auto name = read_thread_comm(pid, tid)) names.push_back(std::move(*name));
  return names;
}

// The JVM's effective uid and gid (second fields of Uid:/Gid: in /proc/PID/status).
inline std::optional<std::pair<uid_t, gid_t>> effective_owner(std::string_view status) {
  auto second = [&](std::string_view key) -> std::optional<unsigned> {
    auto value = status_value(status, key);
    if (!value) return std::nullopt;
    auto words = split_words(*value);
    if (words.size() < 2) return std::nullopt;
    return static_cast<unsigned>(std::strtoul(words[1].c_str(), nullptr, 10));
  };
  auto uid = second("Uid"), gid = second("Gid");
  if (!uid || !gid) return std::nullopt;
  return std::pair<uid_t, gid_t>{*uid, *gid};
}

inline std::optional<std::pair<uid_t, gid_t>> effective_owner(pid_t pid) {
  auto status = read_text_file(proc(pid, "status"));
  if (!status) return std::nullopt;
  return effective_owner(*status);
}

}  // namespace deathwatch::jvm_detail
