// Keeping the certificate on disk: the JSON file is always whole (written beside and
// renamed), and an append-only event log (FILE.events, JSON lines) holds every observed
// signal the moment it is seen, so nothing is lost between two rewrites.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "deathwatch/error.h"
#include "deathwatch/scoped_fd.h"

namespace deathwatch {

class CertificateWriter {
 public:
  // Opens FILE.events and checks that FILE can be written (by writing `initial`).
  static Result<CertificateWriter> open(const std::string& path, const nlohmann::json& initial);

  CertificateWriter(CertificateWriter&&) = default;
  CertificateWriter& operator=(CertificateWriter&&) = default;

  // Replaces FILE atomically: readers see the old or the new certificate, never a part.
  Status write_certificate(const nlohmann::json& certificate);
  // One line (ending in a newline) appended to FILE.events with a single write(2).
  Status append_event(const std::string& line);

  const std::string& path() const { return path_; }
  std::string events_path() const { return path_ + ".events"; }

 private:
  explicit CertificateWriter(std::string path) : path_(std::move(path)) {}
  std::string path_;
  std::string temp_path_;
  ScopedFd events_;
};

}  // namespace deathwatch
