// --redact REGEX: secrets passed on command lines never leave deathwatch.
//
// Applied once, where the record leaves for the sinks (Outputs), so the certificate file,
// the event log and the stderr report all see the same masked text; the recorder keeps the
// truth it needs to match processes.
#pragma once

#include <regex>
#include <string>
#include <vector>

#include "deathwatch/certificate.h"

namespace deathwatch {

class Redactor {
 public:
  static constexpr const char* kMask = "[redacted]";
  // Longest text a pattern is run on (std::regex recurses per character).
  static constexpr std::size_t kLongestMatched = 16 * 1024;

  // Throws std::regex_error for a pattern that is not an ECMAScript regular expression.
  explicit Redactor(const std::vector<std::string>& patterns);
  bool active() const { return !patterns_.empty(); }

  // A command line: matched against the words joined by single spaces, so that a pattern
  // may span words ("--password \S+"); each word keeps its place, its matched part masked.
  void apply(std::vector<std::string>& words) const;
  void apply(std::string& text) const;
  void apply(Sender& sender) const;
  void apply(SignalRecord& record) const;
  void apply(Cause& cause) const;
  // Every command line and every sentence that may quote one.
  void apply(Certificate& certificate) const;

 private:
  std::vector<std::regex> patterns_;
};

}  // namespace deathwatch
