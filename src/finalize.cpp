#include "deathwatch/finalize.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <set>
#include <tuple>

#include "deathwatch/certificate.h"
#include "deathwatch/certificate_writer.h"
#include "deathwatch/error.h"
#include "deathwatch/procfs.h"
#include "deathwatch/report.h"
#include "deathwatch/scoped_fd.h"

namespace deathwatch {

using nlohmann::json;

SystemdEnding SystemdEnding::from_environment() {
  SystemdEnding e;
  auto get = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v && *v ? std::optional<std::string>(v) : std::nullopt;
  };
  e.service_result = get("SERVICE_RESULT");
  e.exit_code = get("EXIT_CODE");
  e.exit_status = get("EXIT_STATUS");
  return e;
}

namespace {

long long number_of(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<long long>() : 0;
}

std::string text_of(const json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Event-log lines the certificate file does not list yet (it is rewritten at most every
// 100 ms; the log has every signal at once), as minimal signal entries.
int merge_events(json& certificate, const std::vector<json>& events) {
  json& signals = certificate["signals"];
  if (!signals.is_array()) signals = json::array();
  std::set<std::tuple<std::string, long long, std::string>> known;
  for (const auto& s : signals)
    if (s.is_object())
      known.insert({text_of(s, "time"), number_of(s, "pid"), text_of(s, "signal")});
  int added = 0;
  for (const auto& e : events) {
    if (!e.is_object() || !e.contains("signal")) continue;
    const auto key = std::make_tuple(text_of(e, "time"), number_of(e, "pid"), text_of(e, "signal"));
    if (known.count(key)) continue;
    known.insert(key);
    json entry = {{"time", e.value("time", json(nullptr))}, {"pid", e.value("pid", json(nullptr))},
                  {"tid", e.value("tid", json(nullptr))},   {"signal", e.value("signal", json(nullptr))},
                  {"code", e.value("code", json(nullptr))}, {"origin", e.value("origin", json(nullptr))},
                  {"count", 1},                              {"sender", nullptr}};
    if (e.contains("sender_pid"))
      entry["sender"] = {{"pid", e["sender_pid"]}, {"comm", e.value("sender_comm", json(nullptr))},
                         {"source", "event log"}};
    signals.push_back(std::move(entry));
    ++added;
  }
  return added;
}

// The last signal named `name` that another process sent, as the file holds it.
const json* last_sent(const json& certificate, const std::string& name) {
  const json* found = nullptr;
  const auto it = certificate.find("signals");
  if (it == certificate.end() || !it->is_array()) return nullptr;
  for (const auto& s : *it)
    if (s.is_object() && text_of(s, "signal") == name && s.contains("sender") && s["sender"].is_object())
      found = &s;
  return found;
}

std::string who(const json& sender) {
  std::string comm = sender.contains("comm") && sender["comm"].is_string() ? sender["comm"].get<std::string>() : "?";
  std::string pid = sender.contains("pid") && sender["pid"].is_number() ? std::to_string(sender["pid"].get<long long>()) : "?";
  return comm + " (pid " + pid + ")";
}

}  // namespace

Finalized finalize_certificate(json& c, const std::vector<json>& events, const SystemdEnding& end, WallTime now) {
  if (!c.is_object() || text_of(c, "schema") != kCertificateSchema)
    return {false, "not a deathwatch certificate"};
  if (is_final(c)) return {false, "already final: nothing changed"};
  const int merged = merge_events(c, events);
  json outcome = {{"kind", "unknown"}, {"exit_code", nullptr}, {"signal", nullptr}, {"core_dumped", false}};
  json cause = {{"category", "unknown"}, {"confidence", "unknown"}, {"signal", nullptr}, {"sender", nullptr},
                {"evidence", json::array()}, {"root_cause", nullptr}};
  std::string summary = "the watcher died before the end; how the command ended is unknown";
  const std::string code = end.exit_code.value_or("");
  const std::string status = end.exit_status.value_or("");
  const std::string result = end.service_result.value_or("");
  json& evidence = cause["evidence"];
  if (end.exit_code || end.exit_status || end.service_result)
    evidence.push_back("systemd: SERVICE_RESULT=" + (result.empty() ? "?" : result) + " EXIT_CODE=" +
                       (code.empty() ? "?" : code) + " EXIT_STATUS=" + (status.empty() ? "?" : status));
  if (code == "exited" && !status.empty()) {
    outcome["kind"] = "exited";
    outcome["exit_code"] = std::atoi(status.c_str());
    cause["category"] = "exit";
    cause["confidence"] = "likely";
    summary = "exited with code " + status + " (as systemd reports it; the watcher had died)";
  } else if ((code == "killed" || code == "dumped") && !status.empty()) {
    const std::string signal = status.rfind("SIG", 0) == 0 ? status : "SIG" + status;
    outcome["kind"] = "killed";
    outcome["signal"] = signal;
    outcome["core_dumped"] = code == "dumped";
    cause["signal"] = signal;
    cause["confidence"] = "likely";
    cause["category"] = code == "dumped" ? "crash" : result == "oom-kill" ? "oom" : "signal";
    summary = "killed by " + signal;
    if (signal == "SIGKILL" && result == "timeout")
      summary += " from systemd's stop escalation (TimeoutStopSec= ran out)";
    else if (result == "oom-kill")
      summary += ": systemd reports an OOM kill";
    if (const json* term = last_sent(c, "SIGTERM"); term && signal != "SIGTERM") {
      summary += ", after SIGTERM from " + who((*term)["sender"]) + " at " + text_of(*term, "time");
      cause["sender"] = (*term)["sender"];
      evidence.push_back("the SIGTERM and its sender were on disk before the SIGKILL");
    } else if (const json* same = last_sent(c, signal)) {
      summary += " from " + who((*same)["sender"]);
      cause["sender"] = (*same)["sender"];
    }
  }
  cause["summary"] = summary;
  const std::string how = "completed by deathwatch finalize: its watcher (pid " +
                          (c.contains("watcher") && c["watcher"].is_object() && c["watcher"].contains("pid")
                               ? c["watcher"]["pid"].dump()
                               : "?") +
                          ") died before the end" + (merged ? "; " + std::to_string(merged) + " signal(s) taken from the event log" : "") +
                          (evidence.empty() ? "; systemd passed no result" : "");
  evidence.push_back(how);
  c["outcome"] = outcome;
  c["cause"] = cause;
  c["final"] = true;
  c["state"] = "final";
  c["finalized_by"] = {{"tool", "deathwatch finalize"}, {"at", format_rfc3339(now)},
                       {"service_result", end.service_result ? json(*end.service_result) : json(nullptr)},
                       {"exit_code", end.exit_code ? json(*end.exit_code) : json(nullptr)},
                       {"exit_status", end.exit_status ? json(*end.exit_status) : json(nullptr)}};
  if (c.contains("process") && c["process"].is_object() && c["process"].value("ended_at", json(nullptr)).is_null())
    c["process"]["ended_at"] = format_rfc3339(now);
  if (c.contains("watcher") && c["watcher"].is_object()) {
    if (!c["watcher"]["warnings"].is_array()) c["watcher"]["warnings"] = json::array();
    c["watcher"]["warnings"].push_back(how);
  }
  return {true, how};
}

namespace {

int refuse(const std::string& message) {
  std::cerr << "deathwatch finalize: " << escape_for_terminal(message) << "\n";
  return kExitOwnFailure;
}

}  // namespace

int run_finalize(const std::vector<std::string>& args) {
  if (args.size() != 1 || args[0] == "--help" || args[0] == "-h") {
    std::cerr << "usage: deathwatch finalize FILE   (for ExecStopPost=: completes a certificate whose "
                 "watcher died, from $SERVICE_RESULT, $EXIT_CODE, $EXIT_STATUS)\n";
    return args.size() == 1 ? 0 : kExitOwnFailure;
  }
  const std::string& path = args[0];
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) return refuse(path + ": " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return refuse(path + ": not a regular file");
  auto text = read_text_file(path, 256 << 20);
  if (!text) return refuse(text.error().describe());
  json certificate = json::parse(*text, nullptr, false);
  if (certificate.is_discarded() || !certificate.is_object() || text_of(certificate, "schema") != kCertificateSchema)
    return refuse(path + ": not a deathwatch certificate");
  if (is_final(certificate)) {
    std::cerr << "deathwatch finalize: " << escape_for_terminal(path) << " is already final: nothing changed\n";
    return 0;
  }
  // A watcher still alive is not finalized under its feet.
  if (const auto w = certificate.find("watcher"); w != certificate.end() && w->is_object() &&
                                                 w->contains("pid") && (*w)["pid"].is_number_integer()) {
    const pid_t watcher = (*w)["pid"].get<pid_t>();
    if (auto stat_now = read_proc_stat(watcher); stat_now && stat_now->state != 'Z' && stat_now->comm == "deathwatch")
      return refuse(path + " is still being written by its watcher (pid " + std::to_string(watcher) + ")");
  }
  std::vector<json> events;
  if (auto log = read_text_file(path + ".events", 64 << 20)) {
    for (const auto line : split_lines(*log)) {
      json e = json::parse(line, nullptr, false);
      if (!e.is_discarded()) events.push_back(std::move(e));
    }
  }
  const Finalized done = finalize_certificate(certificate, events, SystemdEnding::from_environment(), WallClock::now());
  if (!done.changed) return refuse(path + ": " + done.how);
  if (auto w = replace_file(path, to_json_text(certificate, 2) + "\n", st.st_mode & 07777); !w)
    return refuse(w.error().describe());
  std::cerr << "deathwatch finalize: " << escape_for_terminal(path) << ": " << escape_for_terminal(done.how) << "\n";
  return 0;
}

}  // namespace deathwatch
