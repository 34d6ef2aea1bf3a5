#include "deathwatch/stderr_writer.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>

namespace deathwatch {

void StderrWriter::open_once() {
  if (opened_) return;
  opened_ = true;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return;
  if (S_ISSOCK(st.st_mode)) {
    socket_ = true;
  } else if (S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode)) {
    // A new open file description of the same pipe or terminal: its O_NONBLOCK is ours.
    own_.reset(::open("/proc/self/fd/2", O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
    shared_stream_ = !own_.is_open();
  }
}

long StderrWriter::write_some(std::string_view text) {
  if (socket_) return ::send(STDERR_FILENO, text.data(), text.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
  if (own_.is_open() || !shared_stream_) return ::write(own_.is_open() ? own_.get() : STDERR_FILENO, text.data(), text.size());
  // A pipe or terminal that could not be reopened (another user's tty after su, a fifo):
  // the shared blocking description, written only when poll says there is room, and at most
  // PIPE_BUF at a time, which then cannot block.
  struct pollfd p {STDERR_FILENO, POLLOUT, 0};
  if (::poll(&p, 1, 0) <= 0 || !(p.revents & POLLOUT)) {
    errno = EAGAIN;
    return -1;
  }
  return ::write(STDERR_FILENO, text.data(), std::min<std::size_t>(text.size(), PIPE_BUF));
}

bool StderrWriter::write(std::string_view text, std::chrono::milliseconds patience) {
  std::lock_guard<std::mutex> lock(mutex_);
  open_once();
  if (gave_up_) {
    lost_ += text.size();
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + patience;
  while (!text.empty()) {
    const long n = write_some(text);
    if (n > 0) {
      text.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      struct pollfd p {own_.is_open() ? own_.get() : STDERR_FILENO, POLLOUT, 0};
      if (left.count() > 0 && ::poll(&p, 1, static_cast<int>(left.count())) > 0) continue;
    }
    // Nobody reads (or EPIPE, EIO, a closed stream). A patient write that failed stops all
    // further attempts; an impatient one loses only this line.
    if (patience.count() > 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) gave_up_ = true;
    lost_ += text.size();
    return false;
  }
  return true;
}

StderrWriter& stderr_writer() {
  static StderrWriter writer;
  return writer;
}

}  // namespace deathwatch
