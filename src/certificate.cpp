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

std::string event_line(const SignalRecord& r) {
  std::string line = "{\"time\":\"" + format_rfc3339(r.time) + "\",\"pid\":" + std::to_string(r.pid) +
                     ",\"tid\":" + std::to_string(r.tid) + ",\"signal\":\"" + signal_name(r.signo) +
                     "\",\"code\":\"" + si_code_name(r.signo, r.code) + "\",\"origin\":\"" +
                     origin_name(r.origin) + "\"";
  if (r.sender) {
    line += ",\"sender_pid\":" + (r.sender->pid ? std::to_string(*r.sender->pid) : "null");
    // comm is cut at 15 bytes by the kernel and may split a UTF-8 character: replace, never throw.
    line += ",\"sender_comm\":" +
            (r.sender->comm ? json(*r.sender->comm).dump(-1, ' ', false, json::error_handler_t::replace)
                            : "null");
  }
  if (const char* d = disposition_name(r.disposition)) line += std::string(",\"disposition\":\"") + d + "\"";
  if (r.fault_address) line += ",\"fault_address\":\"" + hex_address(*r.fault_address) + "\"";
  if (r.forwarded_from && r.forwarded_from->pid)
    line += ",\"forwarded_from_pid\":" + std::to_string(*r.forwarded_from->pid);
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
      {"resources",
       {{"max_rss_kib", nullable(c.resources.max_rss_kib)},
        {"user_cpu_s", nullable(c.resources.user_cpu_s)},
        {"sys_cpu_s", nullable(c.resources.sys_cpu_s)}}},
      {"watcher",
       {{"version", c.watcher.version},
        {"warnings", c.watcher.warnings},
        {"backends", backends}}},
  };
}

}  // namespace deathwatch
