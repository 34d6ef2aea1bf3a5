#include "deathwatch/certificate_writer.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace deathwatch {

namespace {

// Writes all of `data`; on failure says how much was written before it.
Status write_all(int fd, const std::string& data, const std::string& what) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SysError::from_errno("write " + what);
    }
    done += static_cast<std::size_t>(n);
  }
  return Ok{};
}

// 16 hex digits from the kernel's random pool: another user cannot plant a link at the
// name in advance (it was `FILE.tmp.<pid>`, and pids are predictable).
std::string random_suffix() {
  unsigned char bytes[8] = {};
  if (::getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    // No entropy source: the address and time still differ per call; O_EXCL keeps it safe.
    const auto t = std::chrono::steady_clock::now().time_since_epoch().count();
    std::memcpy(bytes, &t, std::min(sizeof t, sizeof bytes));
  }
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  }
  return out;
}

SysError refusal(const std::string& message) { return SysError{message, 0}; }

const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISFIFO(mode)) return "a fifo";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "not a regular file";
}

}  // namespace

Result<CertificateWriter> CertificateWriter::open(const std::string& path,
                                                  const nlohmann::json& initial, mode_t mode) {
  CertificateWriter writer(path);
  writer.mode_ = mode;
  struct stat link {};
  bool exists = true;
  if (::lstat(path.c_str(), &link) != 0) {
    if (errno != ENOENT) return SysError::from_errno("lstat " + path);
    exists = false;
  }
  if (!exists || S_ISREG(link.st_mode)) {
    writer.target_ = Target::Replace;
    // The log first: a refused log must leave FILE untouched.
    if (auto st = writer.open_event_log(); !st) return st.error();
    if (auto st = writer.write_certificate(initial); !st) return st.error();
    return writer;
  }
  if (S_ISDIR(link.st_mode)) return refusal(path + " is a directory");
  if (S_ISLNK(link.st_mode) && link.st_uid != ::geteuid() && link.st_uid != 0)
    // A link in a directory others can write may have been planted to redirect root's write.
    return refusal(path + " is a symbolic link owned by uid " + std::to_string(link.st_uid) +
                   ", not by deathwatch's user: refusing to write through it");
  // A device, fifo or trusted link (/dev/null, /dev/stdout): written in place, never
  // replaced. O_NONBLOCK: a fifo without a reader fails (ENXIO) instead of hanging here.
  writer.target_ = Target::InPlace;
  writer.in_place_.reset(::open(path.c_str(), O_WRONLY | O_APPEND | O_NOCTTY | O_NONBLOCK | O_CLOEXEC));
  if (!writer.in_place_.is_open()) return SysError::from_errno("open " + path);
  struct stat st {};
  if (::fstat(writer.in_place_.get(), &st) != 0) return SysError::from_errno("fstat " + path);
  if (S_ISBLK(st.st_mode) || S_ISDIR(st.st_mode))
    return refusal(path + " is " + kind_of(st.st_mode) + ": refusing to write a certificate into it");
  // The final certificate is written whole, once: a slow reader may make it wait.
  const int flags = ::fcntl(writer.in_place_.get(), F_GETFL);
  if (flags >= 0) ::fcntl(writer.in_place_.get(), F_SETFL, flags & ~O_NONBLOCK);
  return writer;
}

Status CertificateWriter::open_event_log() {
  const std::string events = events_path();
  // No O_TRUNC before the checks: what is truncated must be the file checked. O_NONBLOCK:
  // a planted fifo fails or is refused below instead of blocking.
  events_.reset(::open(events.c_str(),
                       O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC,
                       mode_));
  if (!events_.is_open()) {
    auto error = SysError::from_errno("open " + events);
    // ELOOP, or EACCES where the kernel's protected_symlinks refuses first: say why.
    struct stat link {};
    if (::lstat(events.c_str(), &link) == 0 && S_ISLNK(link.st_mode))
      return refusal(events + " is a symbolic link: refusing to follow it");
    return error;
  }
  struct stat st {};
  if (::fstat(events_.get(), &st) != 0) return SysError::from_errno("fstat " + events);
  if (!S_ISREG(st.st_mode)) return refusal(events + " is " + kind_of(st.st_mode) + ": refusing to write to it");
  if (st.st_uid != ::geteuid())
    return refusal(events + " is owned by uid " + std::to_string(st.st_uid) +
                   ", not by deathwatch's user: refusing to write to it");
  if (st.st_nlink != 1)
    // A hard link to another file (of ours) would truncate that file.
    return refusal(events + " has " + std::to_string(st.st_nlink) + " hard links: refusing to write to it");
  if (::ftruncate(events_.get(), 0) != 0) return SysError::from_errno("truncate " + events);
  if (::fchmod(events_.get(), mode_) != 0) return SysError::from_errno("chmod " + events);
  events_size_ = 0;
  return Ok{};
}

Status CertificateWriter::write_certificate(const nlohmann::json& certificate) {
  if (target_ == Target::Replace) return replace_certificate(to_json_text(certificate, 2) + "\n");
  // In place: a stream or device gets one certificate, the final one.
  const auto final = certificate.find("final");
  if (final_written_ || final == certificate.end() || !final->is_boolean() || !final->get<bool>())
    return Ok{};
  final_written_ = true;
  return write_all(in_place_.get(), to_json_text(certificate, 2) + "\n", path_);
}

Status replace_file(const std::string& path, const std::string& text, mode_t mode) {
  ScopedFd fd;
  std::string temp;
  for (int attempt = 0; attempt < 16 && !fd.is_open(); ++attempt) {
    temp = path + ".tmp." + random_suffix();
    // O_EXCL|O_NOFOLLOW: a new file of ours, never a planted link or file.
    fd.reset(::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!fd.is_open() && errno != EEXIST) break;
  }
  if (!fd.is_open()) return SysError::from_errno("create a temporary file beside " + path);
  if (::fchmod(fd.get(), mode) != 0) {  // exactly `mode`: the umask may have taken bits away
    auto error = SysError::from_errno("chmod " + temp);
    ::unlink(temp.c_str());
    return error;
  }
  if (auto st = write_all(fd.get(), text, temp); !st) {
    ::unlink(temp.c_str());  // frees the space a full file system needs back
    return st;
  }
  fd.reset();
  // rename replaces whatever `path` names (a link is replaced, not followed).
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    auto error = SysError::from_errno("rename " + temp + " to " + path);
    ::unlink(temp.c_str());
    return error;
  }
  return Ok{};
}

Status CertificateWriter::replace_certificate(const std::string& text) { return replace_file(path_, text, mode_); }

Status CertificateWriter::append_event(const std::string& lines) {
  if (!events_.is_open() || lines.empty()) return Ok{};
  auto st = write_all(events_.get(), lines, events_path());
  if (st) {
    events_size_ += static_cast<off_t>(lines.size());
    return st;
  }
  // Cut a partly written batch back to the last whole line: a reader (or the next append,
  // once space is back) must never see a torn line.
  if (::ftruncate(events_.get(), events_size_) != 0) {
    // Cannot cut back: end the torn line so the lines after it still parse.
    const ssize_t ignored = ::write(events_.get(), "\n", 1);
    if (ignored == 1) events_size_ = ::lseek(events_.get(), 0, SEEK_END);
  }
  events_lost_ += static_cast<std::uint64_t>(std::count(lines.begin(), lines.end(), '\n'));
  return st;
}

RewritePacer::Clock::time_point RewritePacer::due(bool news) const {
  // News waits at least a tenth of the period even after cheap rewrites: a sender a
  // millisecond is still a hundred rewrites a second at most. After one very slow rewrite
  // (a stalled disk) the certificate still follows within kMaxWait.
  const Clock::time_point by_cost =
      last_end_ + std::clamp<Clock::duration>(last_cost_ * kCostFactor, period_ / 10, kMaxWait);
  return news ? by_cost : std::max(by_cost, last_end_ + period_);
}

void RewritePacer::wrote(Clock::time_point start, Clock::time_point end) {
  last_end_ = end;
  last_cost_ = end - start;
}

std::optional<std::uint64_t> EventLogBudget::admit(const SignalRecord& record, bool from_other_process) {
  const bool could_kill = from_other_process && is_terminating_by_default(record.signo);
  const pid_t sender = could_kill && record.sender && record.sender->pid ? *record.sender->pid : -1;
  const auto key = std::make_tuple(record.pid, record.signo, record.code, sender);
  auto it = seen_.find(key);
  if (it == seen_.end()) {
    if (seen_.size() >= kMaxKeys) return 1;  // not remembered: logged as if new, never lost
    seen_.emplace(key, 1);
    return 1;
  }
  const std::uint64_t n = ++it->second;
  const bool power_of_two = (n & (n - 1)) == 0;
  if (n <= kLinesPerKey || power_of_two) return n;
  return std::nullopt;
}

}  // namespace deathwatch
