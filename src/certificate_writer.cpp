#include "deathwatch/certificate_writer.h"

#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>

namespace deathwatch {

namespace {

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

}  // namespace

Result<CertificateWriter> CertificateWriter::open(const std::string& path,
                                                  const nlohmann::json& initial) {
  CertificateWriter writer(path);
  writer.temp_path_ = path + ".tmp." + std::to_string(::getpid());
  if (auto st = writer.write_certificate(initial); !st) return st.error();
  const std::string events = writer.events_path();
  writer.events_.reset(
      ::open(events.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644));
  if (!writer.events_.is_open()) return SysError::from_errno("open " + events);
  return writer;
}

Status CertificateWriter::write_certificate(const nlohmann::json& certificate) {
  ScopedFd fd(::open(temp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (!fd.is_open()) return SysError::from_errno("open " + temp_path_);
  if (auto st = write_all(fd.get(), certificate.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) + "\n", temp_path_); !st) {
    ::unlink(temp_path_.c_str());
    return st;
  }
  fd.reset();
  if (::rename(temp_path_.c_str(), path_.c_str()) != 0) {
    auto error = SysError::from_errno("rename " + temp_path_ + " to " + path_);
    ::unlink(temp_path_.c_str());
    return error;
  }
  return Ok{};
}

Status CertificateWriter::append_event(const std::string& line) {
  return write_all(events_.get(), line, events_path());
}

}  // namespace deathwatch
