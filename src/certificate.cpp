#include "deathwatch/certificate.h"

#include <cstdio>

namespace deathwatch {

using nlohmann::json;

namespace {

template <typename T>
json nullable(const std::optional<T>& value) {
  return value ? json(*value) : json(nullptr);
}

json nullable_time(const std::optional<WallTime>& t) {
  return t ? json(format_rfc3339(*t)) : json(nullptr);
}

std::string hex_address(std::uint64_t address) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(address));
  return buf;
}

}  // namespace

bool SignalRecord::same_key(const SignalRecord& other) const {
  auto sender_pid = [](const std::optional<Sender>& s) { return s ? s->pid : std::nullopt; };
  return pid == other.pid && signo == other.signo && code == other.code &&
         sender_pid(sender) == sender_pid(other.sender) &&
         fault_address == other.fault_address &&
         forwarded_from.has_value() == other.forwarded_from.has_value();
}

std::string Outcome::describe() const {
  switch (kind) {
    case OutcomeKind::Exited: return "exited with code " + std::to_string(exit_code.value_or(-1));
    case OutcomeKind::Killed:
      return "killed by " + signal_name(signal.value_or(0)) + (core_dumped ? " (core dumped)" : "");
    case OutcomeKind::Alive: return "still alive (watch ended)";
    case OutcomeKind::Unknown: return "unknown";
  }
  return "unknown";
}

const char* category_name(CauseCategory category) {
  switch (category) {
    case CauseCategory::Exit: return "exit";
    case CauseCategory::Signal: return "signal";
    case CauseCategory::Terminal: return "terminal";
    case CauseCategory::Oom: return "oom";
    case CauseCategory::Crash: return "crash";
    case CauseCategory::Kernel: return "kernel";
    case CauseCategory::Unknown: return "unknown";
  }
  return "unknown";
}

const char* confidence_name(Confidence confidence) {
  switch (confidence) {
    case Confidence::Certain: return "certain";
    case Confidence::Likely: return "likely";
    case Confidence::Unknown: return "unknown";
  }
  return "unknown";
}

json to_json(const Sender& sender) {
  json ancestry = json::array();
  for (const auto& a : sender.ancestry) ancestry.push_back({{"pid", a.pid}, {"comm", a.comm}});
  return json{
      {"pid", nullable(sender.pid)},
      {"uid", nullable(sender.uid)},
      {"user", nullable(sender.user)},
      {"comm", nullable(sender.comm)},
      {"exe", nullable(sender.exe)},
      {"cmdline", nullable(sender.cmdline)},
      {"ancestry", ancestry},
      {"unit", nullable(sender.unit)},
      {"cgroup", nullable(sender.cgroup)},
      {"tid", nullable(sender.tid)},
      {"cgroup_id", nullable(sender.cgroup_id)},
      {"source", sender.source},
      {"note", nullable(sender.note)},
  };
}

json to_json(const SignalRecord& r) {
  json j{
      {"time", format_rfc3339(r.time)},
      {"pid", r.pid},
      {"tid", r.tid},
      {"signal", signal_name(r.signo)},
      {"signo", r.signo},
      {"code", si_code_name(r.signo, r.code)},
      {"origin", origin_name(r.origin)},
      {"sender", r.sender ? to_json(*r.sender) : json(nullptr)},
      {"count", r.count},
  };
  if (r.count > 1) j["last_time"] = format_rfc3339(r.last_time);
  if (r.fault_address) j["fault_address"] = hex_address(*r.fault_address);
  if (r.forwarded_from) j["forwarded_from"] = to_json(*r.forwarded_from);
  if (r.group) j["group"] = *r.group;
  if (r.kernel_result) j["kernel_result"] = *r.kernel_result;
  const char* disposition = disposition_name(r.disposition);
  j["disposition"] = disposition ? json(disposition) : json(nullptr);
  if (r.last_delivered && r.count > 1) j["last_delivered_time"] = format_rfc3339(*r.last_delivered);
  return j;
}

std::string event_line(const SignalRecord& r, std::uint64_t repeat) {
  std::string line = "{\"time\":\"" + format_rfc3339(r.time) + "\",\"pid\":" + std::to_string(r.pid) +
                     ",\"tid\":" + std::to_string(r.tid) + ",\"signal\":\"" + signal_name(r.signo) +
                     "\",\"code\":\"" + si_code_name(r.signo, r.code) + "\",\"origin\":\"" +
                     origin_name(r.origin) + "\"";
  if (r.sender) {
    line += ",\"sender_pid\":" + (r.sender->pid ? std::to_string(*r.sender->pid) : "null");
    // comm is cut at 15 bytes by the kernel and may split a UTF-8 character: bytes kept.
    line += ",\"sender_comm\":" + (r.sender->comm ? json_string_text(*r.sender->comm) : "null");
  }
  if (const char* d = disposition_name(r.disposition)) line += std::string(",\"disposition\":\"") + d + "\"";
  if (r.fault_address) line += ",\"fault_address\":\"" + hex_address(*r.fault_address) + "\"";
  if (r.forwarded_from && r.forwarded_from->pid)
    line += ",\"forwarded_from_pid\":" + std::to_string(*r.forwarded_from->pid);
  if (repeat > 1) line += ",\"repeat\":" + std::to_string(repeat);
  line += "}\n";
  return line;
}

json to_json(const OomKill& o) {
  return json{
      {"pid", o.pid},
      {"time", nullable_time(o.time)},
      {"source", o.source},
      {"confidence", confidence_name(o.confidence)},
      {"total_vm_kib", nullable(o.total_vm_kib)},
      {"anon_rss_kib", nullable(o.anon_rss_kib)},
      {"file_rss_kib", nullable(o.file_rss_kib)},
      {"shmem_rss_kib", nullable(o.shmem_rss_kib)},
      {"triggered_by", o.triggered_by ? to_json(*o.triggered_by) : json(nullptr)},
      {"cgroup", nullable(o.cgroup)},
      {"cgroup_limit_bytes", nullable(o.cgroup_limit_bytes)},
      {"cgroup_other_processes", nullable(o.cgroup_other_processes)},
      {"evidence", o.evidence},
  };
}

json to_json(const Outcome& o, bool final) {
  const char* kind = "unknown";
  switch (o.kind) {
    case OutcomeKind::Exited: kind = "exited"; break;
    case OutcomeKind::Killed: kind = "killed"; break;
    case OutcomeKind::Alive: kind = "alive"; break;
    case OutcomeKind::Unknown: kind = final ? "unknown" : "running"; break;
  }
  return json{{"kind", kind},
              {"exit_code", nullable(o.exit_code)},
              {"signal", o.signal ? json(signal_name(*o.signal)) : json(nullptr)},
              {"core_dumped", o.core_dumped}};
}

json to_json(const Cause& c, bool final) {
  return json{{"category", final ? json(category_name(c.category)) : json(nullptr)},
              {"summary", c.summary},
              {"signal", c.signal ? json(signal_name(*c.signal)) : json(nullptr)},
              {"sender", c.sender ? to_json(*c.sender) : json(nullptr)},
              {"confidence", confidence_name(c.confidence)},
              {"evidence", c.evidence}};
}

namespace {

json descendant_json(const Descendant& d, const std::vector<SignalRecord>& all_signals) {
  json signals = json::array();
  for (const auto& r : all_signals)
    if (r.pid == d.pid) signals.push_back(to_json(r));
  const bool ended = d.ended_at.has_value();
  return json{{"pid", d.pid},
              {"ppid", d.ppid},
              {"argv", d.argv},
              {"exe", nullable(d.exe)},
              {"started_at", format_rfc3339(d.started_at)},
              {"ended_at", nullable_time(d.ended_at)},
              {"outcome", to_json(d.outcome, ended)},
              {"cause", ended ? to_json(d.cause, true) : json(nullptr)},
              {"oom", d.oom ? to_json(*d.oom) : json(nullptr)},
              {"last_words", d.last_words ? to_json(*d.last_words) : json(nullptr)},
              {"signals", signals}};
}

}  // namespace

json to_json(const Certificate& c, WallTime now) {
  const WallTime end = c.process.ended_at.value_or(now);
  json signals = json::array();
  for (const auto& r : c.signals) signals.push_back(to_json(r));
  json descendants = json::array();
  for (const auto& d : c.descendants) descendants.push_back(descendant_json(d, c.signals));
  json cause = to_json(c.cause, c.final);
  cause["root_cause"] = nullptr;
  if (c.root_cause)
    cause["root_cause"] = json{{"pid", c.root_cause->pid},
                               {"argv", c.root_cause->argv},
                               {"chain", c.root_cause->chain},
                               {"summary", c.root_cause->summary},
                               {"cause", to_json(c.root_cause->cause, true)}};
  json backends = json::array();
  for (const auto& b : c.watcher.backends)
    backends.push_back({{"name", b.name}, {"active", b.active}, {"detail", b.detail}});

  return json{
      {"schema", kCertificateSchema},
      {"final", c.final},
      // "running" while the watch goes on (a reader whose watcher pid is gone knows it died
      // mid-watch: what the file holds is everything up to then), "final" once complete.
      {"state", c.final ? "final" : "running"},
      {"process",
       {{"pid", c.process.pid > 0 ? json(c.process.pid) : json(nullptr)},  // null: never started
        {"argv", c.process.argv},
        {"exe", nullable(c.process.exe)},
        {"cwd", nullable(c.process.cwd)},
        {"started_at", format_rfc3339(c.process.started_at)},
        {"watch_ended_alive", c.watch_ended_alive},
        {"ended_at", nullable_time(c.process.ended_at)},
        {"runtime_s", seconds_between(c.process.started_at, end)}}},
      {"outcome", to_json(c.outcome, c.final)},
      {"cause", cause},
      {"signals", signals},
      {"signals_not_listed", c.signals_not_listed},
      {"descendants", descendants},
      {"descendants_summary",
       {{"started", c.descendant_counts.started},
        {"exited_normally", c.descendant_counts.exited_normally},
        {"not_listed", c.descendant_counts.not_listed},
        {"alive", c.descendant_counts.alive}}},
      {"oom", c.oom ? to_json(*c.oom) : json(nullptr)},
      {"last_words", c.last_words ? to_json(*c.last_words) : json(nullptr)},
      {"resources",
       {{"max_rss_kib", nullable(c.resources.max_rss_kib)},
        {"user_cpu_s", nullable(c.resources.user_cpu_s)},
        {"sys_cpu_s", nullable(c.resources.sys_cpu_s)}}},
      {"watcher",
       {{"version", c.watcher.version},
        {"pid", c.watcher.pid > 0 ? json(c.watcher.pid) : json(nullptr)},
        {"warnings", c.watcher.warnings},
        {"backends", backends}}},
  };
}

namespace {

// Length of the valid UTF-8 sequence (RFC 3629: no overlong forms, no surrogates, nothing
// above U+10FFFF) starting at s[i], or 0 when the byte there does not start one.
std::size_t utf8_sequence_length(const std::string& s, std::size_t i) {
  auto byte = [&s](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  auto cont = [&](std::size_t k) { return k < s.size() && (byte(k) & 0xC0) == 0x80; };
  const unsigned char b = byte(i);
  if (b < 0x80) return 1;
  if (b >= 0xC2 && b <= 0xDF) return cont(i + 1) ? 2 : 0;
  if (b >= 0xE0 && b <= 0xEF) {
    if (!cont(i + 1) || !cont(i + 2)) return 0;
    if (b == 0xE0 && byte(i + 1) < 0xA0) return 0;   // overlong
    if (b == 0xED && byte(i + 1) > 0x9F) return 0;   // a surrogate
    return 3;
  }
  if (b >= 0xF0 && b <= 0xF4) {
    if (!cont(i + 1) || !cont(i + 2) || !cont(i + 3)) return 0;
    if (b == 0xF0 && byte(i + 1) < 0x90) return 0;   // overlong
    if (b == 0xF4 && byte(i + 1) > 0x8F) return 0;   // above U+10FFFF
    return 4;
  }
  return 0;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// "x" and two hex digits at s[i] that a reader turns into a byte after a backslash: 80..ff
// (an escaped byte) or 5c (an escaped backslash).
bool reads_as_escape(const std::string& s, std::size_t i) {
  if (i + 2 >= s.size() || s[i] != 'x') return false;
  const int high = hex_value(s[i + 1]);
  const int low = hex_value(s[i + 2]);
  if (high < 0 || low < 0) return false;
  const int byte = high * 16 + low;
  return byte >= 0x80 || byte == 0x5c;
}

// A backslash at s[i] is written \x5c when it would otherwise start an escape: before
// "x" and such digits, or before a byte that is escaped.
bool backslash_needs_escape(const std::string& s, std::size_t i) {
  return i + 1 < s.size() && (utf8_sequence_length(s, i + 1) == 0 || reads_as_escape(s, i + 1));
}

bool needs_escape(const std::string& s) {
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0 || (s[i] == '\\' && backslash_needs_escape(s, i))) return true;
    i += n;
  }
  return false;
}

std::string escaped(const std::string& s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(s.size() + 16);
  auto escape = [&out](unsigned char b) {
    out += "\\x";
    out += kHex[b >> 4];
    out += kHex[b & 0xF];
  };
  for (std::size_t i = 0; i < s.size();) {
    const std::size_t n = utf8_sequence_length(s, i);
    if (n == 0 || (s[i] == '\\' && backslash_needs_escape(s, i))) {
      escape(static_cast<unsigned char>(s[i++]));
    } else {
      out.append(s, i, n);
      i += n;
    }
  }
  return out;
}

// Escapes every string that needs it, in place.
void escape_strings(json& value) {
  if (value.is_string()) {
    auto& text = value.get_ref<std::string&>();
    if (needs_escape(text)) text = escaped(text);
  } else if (value.is_structured()) {
    for (auto& element : value) escape_strings(element);
  }
}

}  // namespace

std::string to_json_text(json value, int indent) {
  escape_strings(value);
  // Every string is valid UTF-8 now; `replace` only guards against a bug here, never throws.
  return value.dump(indent, ' ', false, json::error_handler_t::replace);
}

std::string json_string_text(const std::string& value) { return to_json_text(json(value), -1); }

}  // namespace deathwatch
