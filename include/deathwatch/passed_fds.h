// File descriptors passed over a Unix socket (SCM_RIGHTS): put into a message to send, taken
// out of one received. Used by the notify relay (FDSTORE=1) and the eBPF loader's helper.
#pragma once

#include <sys/socket.h>

#include <cstring>
#include <vector>

namespace deathwatch {

// Sets `msg`'s control data to carry `fds` (none: no control data); `control` holds it and
// must outlive the sendmsg.
inline void attach_fds(msghdr& msg, std::vector<char>& control, const std::vector<int>& fds) {
  msg.msg_control = nullptr;
  msg.msg_controllen = 0;
  if (fds.empty()) return;
  control.assign(CMSG_SPACE(sizeof(int) * fds.size()), 0);
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
  std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
}

// The descriptors a received message carried, in order (the caller owns them).
inline std::vector<int> received_fds(msghdr& msg) {
  std::vector<int> fds;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    const int* data = reinterpret_cast<const int*>(CMSG_DATA(c));
    fds.insert(fds.end(), data, data + count);
  }
  return fds;
}

}  // namespace deathwatch
