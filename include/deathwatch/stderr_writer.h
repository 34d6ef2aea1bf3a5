// deathwatch's own writes to stderr (its log lines, the report, a one-line error) never
// block it for long. stderr is shared with the command: a pipe nobody reads, a stalled
// terminal or a full journal stream would otherwise stop deathwatch, and with it a traced
// command waiting in a stop, or the mirrored exit status.
//
// O_NONBLOCK cannot be set on the shared stream (the command would see it), so deathwatch
// writes through a description of its own: a pipe or terminal is reopened through
// /proc/self/fd/2 non-blocking, a socket is written with MSG_DONTWAIT, a regular file
// directly. While the command runs, a line that cannot be written at once is dropped and
// counted (a traced command may be waiting in a stop); the final report waits at most
// kPatience, once: after that, everything else for stderr is dropped and counted.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string_view>

#include "deathwatch/scoped_fd.h"

namespace deathwatch {

class StderrWriter {
 public:
  static constexpr std::chrono::milliseconds kPatience{2000};

  // Writes all of `text`, or drops what cannot be written within `patience`. Returns
  // whether all of it was written.
  bool write(std::string_view text, std::chrono::milliseconds patience = std::chrono::milliseconds{0});
  // Bytes dropped since the start (stderr blocked or failing).
  std::uint64_t lost_bytes() const { return lost_; }
  bool gave_up() const { return gave_up_; }

 private:
  void open_once();
  long write_some(std::string_view text);

  std::mutex mutex_;  // log lines may come from the JVM attach thread
  bool opened_ = false;
  bool socket_ = false;
  bool shared_stream_ = false;  // a pipe or tty that could not be reopened: poll before each write
  ScopedFd own_;  // a non-blocking description of stderr's pipe or terminal, when reopened
  bool gave_up_ = false;
  std::uint64_t lost_ = 0;
};

// The one writer for deathwatch's stderr.
StderrWriter& stderr_writer();

}  // namespace deathwatch
