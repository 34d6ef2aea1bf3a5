// Where a file a process had mapped lives, known only by its device, inode and name: the
// eBPF backend captures a dying process's mappings that way (a path would need d_path,
// which the death hooks may not call), and the process is gone when user space looks.
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

namespace deathwatch {

class MappedFileLocator {
 public:
  // Learns deathwatch's own mappings (the C library and the dynamic loader the target most
  // likely shares) and the standard library directories.
  MappedFileLocator();

  // The paths a live process maps right now (/proc/PID/maps), if it can still be read.
  void learn_maps_of(pid_t pid);
  // A file a watched process executed: known itself, and its directory (and a JDK's
  // library directories next to it) searched for the libraries it maps.
  void learn_executable(const std::string& path);
  // The file with this device (major, minor), inode and last path component, if found.
  std::optional<std::string> locate(unsigned major, unsigned minor, unsigned long long ino,
                                    const std::string& name);

 private:
  using Key = std::tuple<unsigned, unsigned, unsigned long long>;
  void learn_maps_text(const std::string& text);
  std::optional<std::string> check(const std::string& path, const Key& key);

  std::map<Key, std::string> known_;
  std::vector<std::string> dirs_;
};

}  // namespace deathwatch
