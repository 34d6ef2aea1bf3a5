// Keeping the certificate on disk: the JSON file is always whole (written beside and
// renamed), and an append-only event log (FILE.events, JSON lines) holds every observed
// signal the moment it is seen, so nothing is lost between two rewrites.
//
// deathwatch often runs as root in directories other users can write (a service's log
// directory): nothing here follows a link or opens a file another user could have planted.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <tuple>

#include <nlohmann/json.hpp>

#include "deathwatch/certificate.h"
#include "deathwatch/error.h"
#include "deathwatch/scoped_fd.h"

namespace deathwatch {

class CertificateWriter {
 public:
  // What FILE is, decided once at open.
  enum class Target {
    // Absent, or a regular file: rewritten beside (a new file with an unpredictable name,
    // O_EXCL|O_NOFOLLOW) and renamed over FILE; FILE.events beside it.
    Replace,
    // An existing device, fifo, or a symbolic link owned by deathwatch's user or root
    // (/dev/null, /dev/stdout, /dev/fd/N): never renamed over. Only the final certificate is
    // written, once, through the descriptor opened at start (appended when it is a regular
    // file); there is no FILE.events (no file is created next to a device).
    InPlace,
  };

  // Decides the target, opens FILE.events (Replace) or FILE itself (InPlace) and checks that
  // FILE can be written (Replace: by writing `initial`). Refuses, with the reason, a
  // FILE.events that is a link, not a regular file, not deathwatch's user's, or hard-linked
  // elsewhere; a FILE that is a link owned by another user, a block device or a directory.
  // Files deathwatch creates (FILE, FILE.events) get exactly `mode`, whatever the umask:
  // they belong to the user running deathwatch, and the default 0640 keeps other users out
  // of command lines and senders.
  static Result<CertificateWriter> open(const std::string& path, const nlohmann::json& initial,
                                        mode_t mode = 0640);

  CertificateWriter(CertificateWriter&&) = default;
  CertificateWriter& operator=(CertificateWriter&&) = default;

  // Replace: replaces FILE atomically (readers see the old or the new certificate, never a
  // part). InPlace: writes only a certificate whose "final" is true, once.
  Status write_certificate(const nlohmann::json& certificate);
  // Lines (each ending in a newline) appended to FILE.events with one write(2). A failed or
  // short write is cut back (ftruncate) to the last whole line: the log never holds a torn
  // line; the lines are counted in events_lost(). Ok and nothing written without an event log.
  Status append_event(const std::string& lines);

  Target target() const { return target_; }
  bool has_event_log() const { return events_.is_open(); }
  // Event-log lines that could not be written (ENOSPC, EIO, ...).
  std::uint64_t events_lost() const { return events_lost_; }
  const std::string& path() const { return path_; }
  std::string events_path() const { return path_ + ".events"; }

 private:
  explicit CertificateWriter(std::string path) : path_(std::move(path)) {}
  Status open_event_log();
  Status replace_certificate(const std::string& text);

  std::string path_;
  mode_t mode_ = 0640;
  Target target_ = Target::Replace;
  ScopedFd events_;    // Replace: FILE.events
  ScopedFd in_place_;  // InPlace: FILE, opened at start
  bool final_written_ = false;
  off_t events_size_ = 0;  // whole lines written so far: where a failed append is cut back to
  std::uint64_t events_lost_ = 0;
};

// Replaces `path` with `text` atomically: a new file beside it (random name, O_EXCL |
// O_NOFOLLOW, exactly `mode`), renamed over it. Readers see the old or the new whole file.
// Used for the certificate, by `deathwatch finalize` and for the metrics textfile.
Status replace_file(const std::string& path, const std::string& text, mode_t mode);

// When to rewrite the certificate. A rewrite of a large certificate (1000 senders: ~1 MB)
// costs milliseconds, so rewrites are paced by their own cost: after a rewrite that took C,
// the next waits at least kCostFactor*C, so at most 1/(1+kCostFactor) of deathwatch's time
// goes to rewrites however fast senders come (but never more than kMaxWait). News (a new
// sender) is written as soon as that allows; other changes at most every `period`. Pure
// logic: the caller supplies the clock.
class RewritePacer {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr int kCostFactor = 10;
  static constexpr std::chrono::seconds kMaxWait{5};

  explicit RewritePacer(Clock::duration period) : period_(period) {}
  // The earliest time a pending rewrite may run (`news`: a new sender is waiting).
  Clock::time_point due(bool news) const;
  // A rewrite ran from `start` to `end`.
  void wrote(Clock::time_point start, Clock::time_point end);

 private:
  Clock::duration period_;
  Clock::time_point last_end_{};
  Clock::duration last_cost_{};
};

// Bounds FILE.events (a storm of 100,000 signals must not mean 16 MB). Per key, the first
// kLinesPerKey occurrences are logged, then only the 16th, 32nd, 64th, ... (the line carries
// its occurrence number as "repeat"); every occurrence is counted in the certificate. The
// key of a signal that could kill (default action: terminate) and was sent by another
// process includes the sender's pid, so every such sender is on disk with its first signal
// before that signal is re-injected; other signals (SIGCHLD, self-sent, timers, faults) are
// keyed by receiver, signal and si_code alone. Pure logic.
class EventLogBudget {
 public:
  static constexpr std::uint64_t kLinesPerKey = 10;
  // Keys remembered; beyond this, every new potentially fatal sender is still logged.
  static constexpr std::size_t kMaxKeys = 100000;

  // The occurrence number to log this signal with, or nullopt when it is only counted.
  std::optional<std::uint64_t> admit(const SignalRecord& record, bool from_other_process);

 private:
  std::map<std::tuple<pid_t, int, int, pid_t>, std::uint64_t> seen_;
};

}  // namespace deathwatch
