#include "deathwatch/mapped_files.h"

#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "deathwatch/procfs.h"

namespace deathwatch {

MappedFileLocator::MappedFileLocator() {
  if (auto self = read_text_file("/proc/self/maps", 1 << 20)) learn_maps_text(*self);
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu", "/lib/x86_64-linux-gnu", "/usr/lib64", "/lib64",
                          "/usr/lib", "/lib", "/usr/local/lib"})
    dirs_.emplace_back(dir);
}

void MappedFileLocator::learn_maps_text(const std::string& text) {
  for (std::string_view line : split_lines(text)) {
    unsigned major = 0, minor = 0;
    unsigned long long ino = 0;
    int path_at = 0;
    const std::string l(line);
    if (std::sscanf(l.c_str(), "%*x-%*x %*s %*x %x:%x %llu %n", &major, &minor, &ino,
                    &path_at) < 3 ||
        path_at <= 0 || ino == 0)
      continue;
    const std::string path = l.substr(static_cast<std::size_t>(path_at));
    if (!path.empty() && path[0] == '/' && path.find(" (deleted)") == std::string::npos)
      known_.emplace(Key{major, minor, ino}, path);
  }
}

void MappedFileLocator::learn_maps_of(pid_t pid) {
  if (auto text = read_text_file("/proc/" + std::to_string(pid) + "/maps", 4 << 20)) learn_maps_text(*text);
}

void MappedFileLocator::learn_executable(const std::string& path) {
  if (path.empty() || path[0] != '/') return;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return;
  known_.emplace(Key{major(st.st_dev), minor(st.st_dev), st.st_ino}, path);
  const std::string dir = path.substr(0, path.rfind('/'));
  // A JDK's launcher is bin/java; libjvm.so and friends are in lib/ and lib/server/.
  for (const std::string& d : {dir, dir + "/../lib", dir + "/../lib/server"})
    if (std::find(dirs_.begin(), dirs_.end(), d) == dirs_.end()) dirs_.insert(dirs_.begin(), d);
}

std::optional<std::string> MappedFileLocator::check(const std::string& path, const Key& key) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return std::nullopt;
  if (Key{major(st.st_dev), minor(st.st_dev), st.st_ino} != key) return std::nullopt;
  return path;
}

std::optional<std::string> MappedFileLocator::locate(unsigned major_no, unsigned minor_no,
                                                     unsigned long long ino, const std::string& name) {
  const Key key{major_no, minor_no, ino};
  if (auto it = known_.find(key); it != known_.end()) return it->second;
  if (name.empty() || name.find('/') != std::string::npos) return std::nullopt;
  for (const std::string& dir : dirs_) {
    if (auto found = check(dir + "/" + name, key)) {
      known_.emplace(key, *found);
      return found;
    }
  }
  return std::nullopt;
}

}  // namespace deathwatch
