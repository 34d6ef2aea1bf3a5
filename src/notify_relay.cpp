#include "deathwatch/notify_relay.h"

#include <sys/random.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <optional>
#include <string_view>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "deathwatch/passed_fds.h"

namespace deathwatch {

namespace {

// sockaddr_un for "/path" or "@abstract" (a leading @ is a NUL in the kernel's address).
bool make_address(const std::string& name, sockaddr_un& addr, socklen_t& len) {
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  if (name.empty() || name.size() >= sizeof addr.sun_path) return false;
  if (name[0] != '/' && name[0] != '@') return false;
  std::memcpy(addr.sun_path, name.data(), name.size());
  if (name[0] == '@') addr.sun_path[0] = '\0';
  len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size() + (name[0] == '/' ? 1 : 0));
  return true;
}

}  // namespace

std::optional<Result<NotifyRelay>> NotifyRelay::from_environment() {
  const char* value = std::getenv("NOTIFY_SOCKET");
  if (value == nullptr || *value == '\0') return std::nullopt;
  NotifyRelay relay;
  relay.upstream_address_ = value;
  sockaddr_un check{};
  socklen_t check_len = 0;
  if (!make_address(relay.upstream_address_, check, check_len))
    return Result<NotifyRelay>(SysError{"NOTIFY_SOCKET=" + relay.upstream_address_ + " is not a socket address", 0});
  relay.upstream_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  relay.own_.reset(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!relay.upstream_.is_open() || !relay.own_.is_open())
    return Result<NotifyRelay>(SysError::from_errno("notify relay socket"));
  unsigned char r[8] = {};
  if (::getrandom(r, sizeof r, 0) != sizeof r) return Result<NotifyRelay>(SysError::from_errno("getrandom"));
  char suffix[17];
  for (int i = 0; i < 8; ++i) std::snprintf(suffix + 2 * i, 3, "%02x", r[i]);
  relay.own_address_ = "@deathwatch-notify-" + std::to_string(::getpid()) + "-" + suffix;
  sockaddr_un own{};
  socklen_t own_len = 0;
  make_address(relay.own_address_, own, own_len);
  if (::bind(relay.own_.get(), reinterpret_cast<sockaddr*>(&own), own_len) != 0)
    return Result<NotifyRelay>(SysError::from_errno("bind notify relay " + relay.own_address_));
  const int one = 1;
  ::setsockopt(relay.own_.get(), SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
  ::setenv("NOTIFY_SOCKET", relay.own_address_.c_str(), 1);
  return Result<NotifyRelay>(std::move(relay));
}

namespace {

// The message without its MAINPID= lines.
std::string without_main_pid(std::string_view message) {
  std::string out;
  while (!message.empty()) {
    const auto nl = message.find('\n');
    const std::string_view line = message.substr(0, nl == std::string_view::npos ? message.size() : nl + 1);
    message.remove_prefix(line.size());
    if (line.rfind("MAINPID=", 0) != 0) out += line;
  }
  return out;
}

}  // namespace

int NotifyRelay::relay_pending(const std::function<bool(pid_t)>& from_watched) {
  int relayed = 0;
  std::vector<char> buffer(64 * 1024);
  for (int attempt = 0; attempt < kBatch; ++attempt) {
    struct iovec iov {buffer.data(), buffer.size()};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int) * 253) + CMSG_SPACE(sizeof(struct ucred))];
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    const ssize_t n = ::recvmsg(own_.get(), &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      return relayed;  // EAGAIN: all relayed
    }
    // Descriptors (FDSTORE=1) go on with the message; credentials are deathwatch's own.
    const std::vector<int> fds = received_fds(msg);
    std::optional<pid_t> sender;
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
          c->cmsg_len >= CMSG_LEN(sizeof(struct ucred))) {
        struct ucred cred {};
        std::memcpy(&cred, CMSG_DATA(c), sizeof cred);
        sender = cred.pid;
      }
    }
    if (!sender || !from_watched(*sender)) {
      for (int fd : fds) ::close(fd);
      if (!warned_foreign_) {
        warned_foreign_ = true;
        spdlog::warn("notify relay: dropped a message from pid {}, not the command's", sender.value_or(0));
      }
      continue;
    }
    const std::string message = without_main_pid(std::string_view(buffer.data(), static_cast<std::size_t>(n)));
    if (message.empty()) {
      for (int fd : fds) ::close(fd);
      continue;
    }
    sockaddr_un to{};
    socklen_t to_len = 0;
    make_address(upstream_address_, to, to_len);
    struct iovec out_iov {const_cast<char*>(message.data()), message.size()};
    struct msghdr out {};
    out.msg_name = &to;
    out.msg_namelen = to_len;
    out.msg_iov = &out_iov;
    out.msg_iovlen = 1;
    std::vector<char> out_control;
    attach_fds(out, out_control, fds);
    // MSG_DONTWAIT: a full queue at systemd's end loses this message rather than stalling
    // deathwatch (and a traced command in a stop).
    if (::sendmsg(upstream_.get(), &out, MSG_NOSIGNAL | MSG_DONTWAIT) < 0 && !warned_) {
      warned_ = true;  // said once: systemd may be gone (a stop), or the message refused
      spdlog::warn("notify relay: cannot pass a message on to {}: {}", upstream_address_, std::strerror(errno));
    } else {
      ++relayed;
    }
    for (int fd : fds) ::close(fd);  // systemd holds its own copies now
  }
  return relayed;  // more may wait: poll reports the socket readable again
}

}  // namespace deathwatch
