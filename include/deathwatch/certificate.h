// The death certificate: what deathwatch knows about a watched process, and its JSON form
// (schema "deathwatch.certificate/1", documented in README.md).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deathwatch/clock.h"
#include "deathwatch/identity.h"
#include "deathwatch/last_words.h"
#include "deathwatch/signals.h"

namespace deathwatch {

inline constexpr const char* kCertificateSchema = "deathwatch.certificate/1";

struct SignalRecord {
  WallTime time{};       // first time seen
  WallTime last_time{};  // last time seen (equal to time when count == 1)
  pid_t pid = 0;         // receiving process (thread group id)
  pid_t tid = 0;         // receiving thread
  int signo = 0;
  int code = 0;
  SignalOrigin origin = SignalOrigin::Other;
  std::optional<Sender> sender;        // only for origins that name a sender
  std::optional<std::uint64_t> fault_address;  // for fault signals
  // Set when deathwatch forwarded a signal that was sent to deathwatch itself: the process
  // that really asked for it.
  std::optional<Sender> forwarded_from;
  std::uint64_t count = 1;
  // eBPF only: process-directed (true) or thread-directed, and what the kernel did with it
  // ("delivered", "ignored", "already pending", "queue overflow", "info lost").
  std::optional<bool> group;
  // of the last copy.
  std::optional<std::string> kernel_result;
  Disposition disposition = Disposition::Unknown;  // of the last copy
  // When the last copy reached the process with an action to take (not merged into one
  // already pending, not discarded as ignored); null when none did. A record without any
  // delivery facts (neither kernel_result nor disposition) counts as reached at last_time.
  std::optional<WallTime> last_delivered;

  // Records with the same key collapse into one entry with a count.
  bool same_key(const SignalRecord& other) const;
};

enum class OutcomeKind { Exited, Killed, Alive, Unknown };

struct Outcome {
  OutcomeKind kind = OutcomeKind::Unknown;
  std::optional<int> exit_code;
  std::optional<int> signal;
  bool core_dumped = false;

  bool is_normal() const { return kind == OutcomeKind::Exited && exit_code == 0; }
  std::string describe() const;
};

enum class CauseCategory { Exit, Signal, Terminal, Oom, Crash, Kernel, Unknown };
enum class Confidence { Certain, Likely, Unknown };
const char* category_name(CauseCategory category);
const char* confidence_name(Confidence confidence);

struct Cause {
  CauseCategory category = CauseCategory::Unknown;
  std::string summary;
  std::optional<int> signal;
  std::optional<Sender> sender;
  Confidence confidence = Confidence::Unknown;
  std::vector<std::string> evidence;
};

// Evidence that the kernel's OOM killer chose the process.
struct OomKill {
  pid_t pid = 0;
  std::optional<WallTime> time;
  std::string source;  // "ebpf mark_victim", "kernel log", "memory.events", "memory.oom_control"
  Confidence confidence = Confidence::Unknown;
  std::optional<long long> total_vm_kib;
  std::optional<long long> anon_rss_kib;
  std::optional<long long> file_rss_kib;
  std::optional<long long> shmem_rss_kib;
  // The task whose allocation made the kernel run the OOM killer: not the killer.
  std::optional<Sender> triggered_by;
  std::optional<std::string> cgroup;              // memory cgroup of the process
  std::optional<long long> cgroup_limit_bytes;    // its limit, when it has one
  std::optional<int> cgroup_other_processes;      // others in it (besides deathwatch)
  std::vector<std::string> evidence;
};

struct Resources {
  std::optional<long> max_rss_kib;
  std::optional<double> user_cpu_s;
  std::optional<double> sys_cpu_s;
};

struct ProcessInfo {
  pid_t pid = 0;
  std::vector<std::string> argv;
  std::optional<std::string> exe;
  std::optional<std::string> cwd;
  WallTime started_at{};
  std::optional<WallTime> ended_at;
};

// A process started by the watched process (or by its descendants).
struct Descendant {
  pid_t pid = 0;
  pid_t ppid = 0;
  std::vector<std::string> argv;  // after its last exec (inherited from the parent before)
  std::optional<std::string> exe;
  WallTime started_at{};
  std::optional<WallTime> ended_at;  // null while alive
  Outcome outcome;
  Cause cause;
  std::optional<OomKill> oom;
  std::optional<LastWords> last_words;
};

// The death deep in the tree that explains how the watched process ended.
struct RootCause {
  pid_t pid = 0;
  std::vector<std::string> argv;
  std::vector<pid_t> chain;  // from the watched process's child down to `pid`
  std::string summary;
  Cause cause;               // of `pid`'s own death
};

struct DescendantCounts {
  std::uint64_t started = 0;
  std::uint64_t exited_normally = 0;  // exit 0 with no signal from another process: counted only
  std::uint64_t not_listed = 0;       // abnormal deaths beyond the list's bound
  std::uint64_t alive = 0;
};

struct Backend {
  std::string name;    // "ptrace", "procfs", ...
  bool active = false;
  std::string detail;  // why it is off, or what it does
};

struct WatcherInfo {
  std::string version;
  pid_t pid = 0;  // deathwatch's own: a "running" certificate whose watcher is gone is stale
  std::vector<std::string> warnings;
  std::vector<Backend> backends;
};

struct Certificate {
  ProcessInfo process;
  Outcome outcome;
  Cause cause;
  std::vector<SignalRecord> signals;
  std::uint64_t signals_not_listed = 0;  // records beyond the list's bound (counted, not kept)
  Resources resources;
  std::optional<OomKill> oom;
  std::vector<Descendant> descendants;  // abnormal deaths, then the living
  DescendantCounts descendant_counts;
  std::optional<RootCause> root_cause;
  std::optional<LastWords> last_words;  // where the process was when it died (--last-words)
  bool watch_ended_alive = false;       // --pid: deathwatch stopped watching, target alive
  // The command could not be executed (not found, not executable): the one line a person is
  // shown. Also in watcher.warnings; not a JSON field of its own.
  std::optional<std::string> exec_error;
  WatcherInfo watcher;
  bool final = false;  // false while the target runs: outcome not yet known
};

// A certificate read back (finalize, show): "final" is true only when it is the boolean true.
inline bool is_final(const nlohmann::json& certificate) {
  const auto it = certificate.is_object() ? certificate.find("final") : certificate.end();
  return certificate.is_object() && it != certificate.end() && it->is_boolean() && it->get<bool>();
}

nlohmann::json to_json(const Sender& sender);
nlohmann::json to_json(const SignalRecord& record);
// One compact JSON line for the event log: the sender only by pid and comm (the certificate
// holds the full identity). Cheap: it is written at every signal-delivery stop. `repeat`
// (its occurrence number, see EventLogBudget) is written when above 1.
std::string event_line(const SignalRecord& record, std::uint64_t repeat = 1);
nlohmann::json to_json(const OomKill& oom);
nlohmann::json to_json(const LastWords& last_words);  // last_words_json.cpp
nlohmann::json to_json(const Outcome& outcome, bool final);
nlohmann::json to_json(const Cause& cause, bool final);
nlohmann::json to_json(const Certificate& certificate, WallTime now);

// JSON text (indent as nlohmann's dump: -1 compact). Linux strings (argv, cwd, paths, comm)
// are bytes, not always UTF-8; they are kept exactly, as valid UTF-8 that every JSON parser
// reads: each byte that is not part of a valid UTF-8 sequence is written as the four
// characters \xHH (lower-case hex, 80..ff), and a backslash that would otherwise start such
// an escape (before such a byte, or before "x" and two hex digits 80..ff or 5c) as \x5c.
// Reading back: "\x" and two hex digits 80..ff or 5c (either case) is that byte; all other
// text is itself. Ordinary text, UTF-8 with no such backslash, is unchanged.
std::string to_json_text(nlohmann::json value, int indent);
// One JSON string literal, quoted, bytes kept as above.
std::string json_string_text(const std::string& value);

}  // namespace deathwatch
