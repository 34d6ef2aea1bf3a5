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

std::string Sender::ancestry_line() const {
  std::string line;
  auto append = [&line](const std::string& comm, pid_t pid) {
    if (!line.empty()) line += " <- ";
    line += comm + "(" + std::to_string(pid) + ")";
  };
  if (pid) append(comm.value_or("?"), *pid);
  for (const auto& ancestor : ancestry) append(ancestor.comm, ancestor.pid);
  return line;
}

std::string Sender::short_description() const {
  std::string text = comm.value_or("unknown process");
  text += " (";
  text += pid ? "pid " + std::to_string(*pid) : std::string("pid unknown");
  if (uid) {
    text += ", uid " + std::to_string(*uid);
    if (user) text += " " + *user;
  }
  text += ")";
  return text;
}

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

json to_json(const Certificate& c, WallTime now) {
  const WallTime end = c.process.ended_at.value_or(now);
  json signals = json::array();
  for (const auto& r : c.signals) signals.push_back(to_json(r));
  json evidence = json::array();
  for (const auto& e : c.cause.evidence) evidence.push_back(e);
  json backends = json::array();
  for (const auto& b : c.watcher.backends)
    backends.push_back({{"name", b.name}, {"active", b.active}, {"detail", b.detail}});

  const char* outcome_kind = "unknown";
  switch (c.outcome.kind) {
    case OutcomeKind::Exited: outcome_kind = "exited"; break;
    case OutcomeKind::Killed: outcome_kind = "killed"; break;
    case OutcomeKind::Alive: outcome_kind = "alive"; break;
    case OutcomeKind::Unknown: outcome_kind = c.final ? "unknown" : "running"; break;
  }

  return json{
      {"schema", kCertificateSchema},
      {"final", c.final},
      {"process",
       {{"pid", c.process.pid},
        {"argv", c.process.argv},
        {"exe", nullable(c.process.exe)},
        {"cwd", nullable(c.process.cwd)},
        {"started_at", format_rfc3339(c.process.started_at)},
        {"ended_at", nullable_time(c.process.ended_at)},
        {"runtime_s", seconds_between(c.process.started_at, end)}}},
      {"outcome",
       {{"kind", outcome_kind},
        {"exit_code", nullable(c.outcome.exit_code)},
        {"signal", c.outcome.signal ? json(signal_name(*c.outcome.signal)) : json(nullptr)},
        {"core_dumped", c.outcome.core_dumped}}},
      {"cause",
       {{"category", c.final ? json(category_name(c.cause.category)) : json(nullptr)},
        {"summary", c.cause.summary},
        {"signal", c.cause.signal ? json(signal_name(*c.cause.signal)) : json(nullptr)},
        {"sender", c.cause.sender ? to_json(*c.cause.sender) : json(nullptr)},
        {"confidence", confidence_name(c.cause.confidence)},
        {"evidence", evidence}}},
      {"signals", signals},
      {"signals_not_listed", c.signals_not_listed},
      {"descendants", json::array()},
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
