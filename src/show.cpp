#include "deathwatch/show.h"

#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "deathwatch/certificate.h"
#include "deathwatch/error.h"
#include "deathwatch/procfs.h"

namespace deathwatch {

using nlohmann::json;

namespace {

std::string str(const json& j, const char* key, const std::string& fallback = "") {
  if (!j.is_object()) return fallback;
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

const json& at(const json& j, const char* key) {
  static const json null;
  if (!j.is_object()) return null;
  const auto it = j.find(key);
  return it == j.end() ? null : *it;
}

std::string words(const json& list) {
  std::string out;
  if (!list.is_array()) return out;
  for (const auto& w : list) {
    if (!out.empty()) out += ' ';
    out += w.is_string() ? w.get<std::string>() : w.dump();
  }
  return out;
}

struct Paint {
  Colour colour;
  std::string operator()(const char* code, const std::string& text) const {
    const std::string safe = escape_for_terminal(text);
    return colour == Colour::On ? std::string("\033[") + code + "m" + safe + "\033[0m" : safe;
  }
};

std::string sender_text(const json& s) {
  if (!s.is_object()) return "";
  std::string out = str(s, "comm", "?") + " (pid " + str(s, "pid", "?");
  if (!at(s, "uid").is_null()) out += ", uid " + str(s, "uid") + (at(s, "user").is_null() ? "" : " " + str(s, "user"));
  out += ")";
  if (!at(s, "unit").is_null()) out += " in " + str(s, "unit");
  return out;
}

bool is_certificate(const json& j) { return j.is_object() && str(j, "schema") == kCertificateSchema; }

}  // namespace

bool watcher_alive(const json& c) {
  const json& pid = at(at(c, "watcher"), "pid");
  if (!pid.is_number_integer()) return false;
  auto st = read_proc_stat(pid.get<pid_t>());
  return st && st->state != 'Z' && st->comm == "deathwatch";
}

std::string render_certificate(const json& c, Colour colour, bool watcher_gone) {
  const Paint paint{colour};
  const json& process = at(c, "process");
  const json& cause = at(c, "cause");
  std::string out;
  const bool running = str(c, "state") == "running" || at(c, "final") == false;
  std::string sentence = str(cause, "summary");
  if (running) sentence = watcher_gone ? "stale: its watcher (pid " + str(at(c, "watcher"), "pid", "?") +
                                             ") is gone; the end was not recorded (deathwatch finalize completes it)"
                                       : "still running, watched by pid " + str(at(c, "watcher"), "pid", "?");
  if (sentence.empty()) sentence = "unknown";
  const bool abnormal = running || !(str(at(c, "outcome"), "kind") == "exited" && str(at(c, "outcome"), "exit_code") == "0");
  out += paint(abnormal ? "1;31" : "1;32", sentence) + "\n";
  out += "  command:  " + paint("1", words(at(process, "argv"))) + " (pid " + str(process, "pid", "?") + ")\n";
  out += "  when:     " + escape_for_terminal(str(process, "started_at", "?")) + " .. " +
         escape_for_terminal(str(process, "ended_at", "still running")) + "\n";
  if (!running) {
    out += "  cause:    " + escape_for_terminal(str(cause, "category", "unknown")) + " (" +
           escape_for_terminal(str(cause, "confidence", "unknown")) + ")\n";
  }
  if (const json& s = at(cause, "sender"); s.is_object()) {
    out += "  sender:   " + paint("1", sender_text(s)) + "\n";
    if (!at(s, "cmdline").is_null()) out += "            " + escape_for_terminal(words(at(s, "cmdline"))) + "\n";
    std::string chain;
    for (const auto& a : at(s, "ancestry").is_array() ? at(s, "ancestry") : json::array())
      chain += " <- " + str(a, "comm", "?") + "(" + str(a, "pid", "?") + ")";
    if (!chain.empty()) out += "            " + escape_for_terminal(str(s, "comm", "?") + chain) + "\n";
  }
  for (const auto& e : at(cause, "evidence").is_array() ? at(cause, "evidence") : json::array())
    out += paint("2", "            " + (e.is_string() ? e.get<std::string>() : e.dump())) + "\n";
  if (const json& signals = at(c, "signals"); signals.is_array() && !signals.empty()) {
    out += "  signals:\n";
    for (const auto& s : signals) {
      std::string line = "    " + str(s, "time") + "  " + str(s, "signal") + " " + str(s, "code");
      if (at(s, "sender").is_object()) line += " from " + sender_text(at(s, "sender"));
      if (at(s, "count").is_number() && at(s, "count").get<long long>() > 1) line += "  x" + str(s, "count");
      out += escape_for_terminal(line) + "\n";
    }
  }
  if (const json& d = at(c, "descendants"); d.is_array() && !d.empty()) {
    out += "  deaths in the tree:\n";
    for (const auto& x : d)
      out += escape_for_terminal("    pid " + str(x, "pid") + " (parent " + str(x, "ppid") + ") " +
                                 words(at(x, "argv")) + ": " + str(at(x, "cause"), "summary", "alive")) + "\n";
  }
  if (const json& rc = at(cause, "root_cause"); rc.is_object())
    out += "  root cause: " + escape_for_terminal(str(rc, "summary")) + "\n";
  if (const json& lw = at(c, "last_words"); lw.is_object()) {
    out += "  last words:";
    if (at(lw, "syscall").is_object()) out += " in " + escape_for_terminal(str(at(lw, "syscall"), "name"));
    out += "\n";
    int shown = 0;
    for (const auto& f : at(lw, "backtrace").is_array() ? at(lw, "backtrace") : json::array()) {
      if (shown++ == 8) break;
      std::string where = str(f, "function", str(f, "module", "?") + "+" + str(f, "offset", "?"));
      if (!at(f, "file").is_null()) where += " (" + str(f, "file") + ":" + str(f, "line") + ")";
      out += escape_for_terminal("    #" + std::to_string(shown - 1) + " " + where) + "\n";
    }
    if (const json& java = at(lw, "java"); java.is_object())
      for (const auto& frame : at(java, "stack").is_array() ? at(java, "stack") : json::array())
        out += escape_for_terminal("    at " + (frame.is_string() ? frame.get<std::string>() : frame.dump())) + "\n";
  }
  const json& r = at(c, "resources");
  if (!at(r, "max_rss_kib").is_null())
    out += "  resources: max RSS " + str(r, "max_rss_kib") + " KiB, CPU " + str(r, "user_cpu_s", "?") + "s user + " +
           str(r, "sys_cpu_s", "?") + "s sys\n";
  return out;
}

std::string summary_line(const json& c, bool watcher_gone) {
  const json& process = at(c, "process");
  std::string when = str(process, "ended_at", str(process, "started_at", "?"));
  std::string cause = str(at(c, "cause"), "summary", "unknown");
  if (str(c, "state") == "running" || at(c, "final") == false) cause = watcher_gone ? "stale: watcher gone" : "running";
  std::string command = words(at(process, "argv"));
  if (command.size() > 60) command = command.substr(0, 57) + "...";  // one line per certificate
  return escape_for_terminal(when + "  " + command + "  " + cause);
}

namespace {

std::optional<json> load_certificate(const std::string& path) {
  auto text = read_text_file(path, 256 << 20);
  if (!text) {
    std::cerr << "deathwatch show: " << escape_for_terminal(text.error().describe()) << "\n";
    return std::nullopt;
  }
  json j = json::parse(*text, nullptr, false);
  if (j.is_discarded() || !is_certificate(j)) {
    std::cerr << "deathwatch show: " << escape_for_terminal(path) << ": not a deathwatch certificate\n";
    return std::nullopt;
  }
  return j;
}

int show_summary(const std::string& dir) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) {
    std::cerr << "deathwatch show: " << escape_for_terminal(dir) << ": " << std::strerror(errno) << "\n";
    return kExitOwnFailure;
  }
  std::vector<std::pair<std::string, std::string>> lines;  // (time, line)
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() < 6 || name.compare(name.size() - 5, 5, ".json") != 0) continue;
    auto text = read_text_file(dir + "/" + name, 256 << 20);
    if (!text) continue;
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !is_certificate(j)) continue;  // other JSON files in the directory
    const bool gone = !is_final(j) && !watcher_alive(j);
    lines.emplace_back(str(at(j, "process"), "ended_at", str(at(j, "process"), "started_at")), summary_line(j, gone));
  }
  ::closedir(d);
  std::sort(lines.begin(), lines.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  for (const auto& [time, line] : lines) std::cout << line << "\n";
  return 0;
}

}  // namespace

int run_show(const std::vector<std::string>& args) {
  bool as_json = false;
  std::vector<std::string> files;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--json") {
      as_json = true;
    } else if (args[i] == "--summary") {
      if (i + 1 >= args.size()) {
        std::cerr << "deathwatch show: --summary needs a directory\n";
        return kExitOwnFailure;
      }
      return show_summary(args[i + 1]);
    } else if (args[i] == "--help" || args[i] == "-h") {
      std::cout << "usage: deathwatch show [--json] FILE...   |   deathwatch show --summary DIR\n";
      return 0;
    } else {
      files.push_back(args[i]);
    }
  }
  if (files.empty()) {
    std::cerr << "deathwatch show: no certificate given (deathwatch show [--json] FILE... | --summary DIR)\n";
    return kExitOwnFailure;
  }
  const Colour colour = ::isatty(STDOUT_FILENO) && !std::getenv("NO_COLOR") ? Colour::On : Colour::Off;
  int status = 0;
  for (const auto& path : files) {
    auto c = load_certificate(path);
    if (!c) {
      status = 1;
      continue;
    }
    const bool gone = !is_final(*c) && !watcher_alive(*c);
    if (as_json)
      std::cout << to_json_text(*c, 2) << "\n";
    else
      std::cout << (files.size() > 1 ? "== " + escape_for_terminal(path) + "\n" : "")
                << render_certificate(*c, colour, gone);
  }
  return status;
}

}  // namespace deathwatch
