#include "deathwatch/report.h"

#include "deathwatch/last_words_reader.h"

#include <cmath>
#include <cstdio>

namespace deathwatch {

std::string escape_for_terminal(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  auto hex = [&out](unsigned char c) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", c);
    out += buf;
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c < 0x20 || c == 0x7f) {
      hex(c);
    } else if (c == 0xc2 && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x80 &&
               static_cast<unsigned char>(text[i + 1]) <= 0x9f) {
      hex(c);  // U+0080..U+009F: C1 controls (CSI, OSC, ...) in UTF-8
      hex(static_cast<unsigned char>(text[++i]));
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

namespace {

struct Style {
  Colour colour;
  std::string apply(const char* code, const std::string& text) const {
    return colour == Colour::On ? std::string("\033[") + code + "m" + text + "\033[0m" : text;
  }
  std::string bold(const std::string& t) const { return apply("1", t); }
  std::string red(const std::string& t) const { return apply("1;31", t); }
  std::string green(const std::string& t) const { return apply("32", t); }
  std::string dim(const std::string& t) const { return apply("2", t); }
};

std::string printable(const std::string& text) { return escape_for_terminal(text); }

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += printable(w);
  }
  return out;
}

std::string duration(double s) {
  char buf[64];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.3fs", s);
  else if (s < 3600) {
    // Round once, in tenths, so 119.97 s is "2m00.0s", not "1m60.0s".
    const long tenths = std::lround(s * 10);
    std::snprintf(buf, sizeof buf, "%ldm%02ld.%lds", tenths / 600, (tenths % 600) / 10, tenths % 10);
  }
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", static_cast<int>(s / 3600), static_cast<int>(s / 60) % 60);
  return buf;
}

std::string clock_of(WallTime t) {
  // "HH:MM:SS.mmm" of the RFC 3339 stamp.
  const std::string full = format_rfc3339(t);
  return full.substr(11, 12);
}

std::string sender_brief(const SignalRecord& r) {
  if (r.forwarded_from) return "via deathwatch from " + printable(r.forwarded_from->short_description());
  if (r.sender) {
    if (r.sender->source == "self") return "from itself";
    return "from " + printable(r.sender->short_description());
  }
  return std::string("(") + origin_name(r.origin) + ")";
}

// Only what is known: an attached process's usage is reported to its parent, not to us, and
// an unknown value must never read as zero.
// Where it was when it died: the Java caller, the thread, the top frames, the syscall.
std::string last_words_lines(const LastWords& lw) {
  constexpr std::size_t kFramesShown = 6;
  std::string out;
  std::string head = "  last words:";
  if (lw.thread_name || lw.tid)
    head += " thread " + printable(lw.thread_name.value_or("?")) + " (tid " + (lw.tid ? std::to_string(*lw.tid) : "?") + ")";
  out += head + "\n";
  if (lw.java) {
    out += "    java: " + printable(lw.java->reason) + "\n";
    for (std::size_t i = 0; i < lw.java->stack.size() && i < kFramesShown; ++i)
      out += "      at " + printable(lw.java->stack[i]) + "\n";
  }
  if (lw.fault_meaning) out += "    fault: " + printable(*lw.fault_meaning) + (lw.fault_mapping ? " (" + printable(*lw.fault_mapping) + ")" : "") + "\n";
  if (lw.syscall)
    out += "    in syscall " + lw.syscall->name + (lw.syscall->detail ? " (" + printable(*lw.syscall->detail) + ")" : "") + "\n";
  for (std::size_t i = 0; i < lw.backtrace.size() && i < kFramesShown; ++i)
    out += "    #" + std::to_string(i) + " " + printable(describe_frame(lw.backtrace[i])) + "\n";
  if (lw.backtrace.size() > kFramesShown)
    out += "    (" + std::to_string(lw.backtrace.size() - kFramesShown) + " more frames in the certificate)\n";
  if (lw.core && lw.core->dumped) out += "    core dumped: " + printable(lw.core->where.value_or("?")) + "\n";
  return out;
}

std::string resources_line(const Resources& r) {
  if (!r.max_rss_kib && !r.user_cpu_s && !r.sys_cpu_s) return "";
  char buf[160];
  std::string line = "  resources: ";
  if (r.max_rss_kib) {
    std::snprintf(buf, sizeof buf, "max RSS %ld KiB", *r.max_rss_kib);
    line += buf;
  } else {
    line += "max RSS unknown";
  }
  if (r.user_cpu_s && r.sys_cpu_s) {
    std::snprintf(buf, sizeof buf, ", CPU %.2fs user + %.2fs sys", *r.user_cpu_s, *r.sys_cpu_s);
    line += buf;
  } else {
    line += ", CPU unknown";
  }
  return line + "\n";
}

}  // namespace

std::string render_report(const Certificate& c, Colour colour) {
  const Style s{colour};
  std::string out;
  const double runtime =
      seconds_between(c.process.started_at, c.process.ended_at.value_or(WallClock::now()));
  out += s.bold("deathwatch: ") + join(c.process.argv) + " (pid " + std::to_string(c.process.pid) +
         ") ran " + duration(runtime) + "\n";
  const bool normal = c.outcome.is_normal();
  out += "  outcome:   " + (normal ? s.green(c.outcome.describe()) : s.red(c.outcome.describe())) + "\n";
  out += "  cause:     " + s.bold(category_name(c.cause.category)) + " (" +
         confidence_name(c.cause.confidence) + "): " + printable(c.cause.summary) + "\n";
  if (c.cause.sender) {
    const Sender& sender = *c.cause.sender;
    if (sender.cmdline && !sender.cmdline->empty())
      out += "  sender:    " + join(*sender.cmdline) + "\n";
    if (sender.exe) out += "             exe " + printable(*sender.exe) + "\n";
    if (!sender.ancestry.empty()) out += "             " + printable(sender.ancestry_line()) + "\n";
    if (sender.unit) out += "             unit " + printable(*sender.unit) + "\n";
    if (sender.note) out += "             " + s.dim(printable(*sender.note)) + "\n";
  }
  for (std::size_t i = 0; i < c.cause.evidence.size(); ++i)
    out += std::string(i == 0 ? "  evidence:  " : "             ") + s.dim(printable(c.cause.evidence[i])) + "\n";
  if (!c.signals.empty()) {
    out += "  signals:\n";
    for (const auto& r : c.signals) {
      out += "    " + clock_of(r.time) + "  " + signal_name(r.signo) + " " +
             si_code_name(r.signo, r.code) + " " + sender_brief(r);
      if (r.pid != c.process.pid) out += " to pid " + std::to_string(r.pid);
      if (r.count > 1) out += "  x" + std::to_string(r.count);
      // Not the crash or the cause: the process ran its handler (and lived on, unless it
      // says so below) or discarded the signal (a JVM's own SIGSEGVs; timeout's SIGTERM).
      if (r.disposition == Disposition::Handled) out += "  (handled)";
      if (r.disposition == Disposition::Ignored) out += "  (ignored)";
      out += "\n";
    }
    if (c.signals_not_listed)
      out += "    (" + std::to_string(c.signals_not_listed) + " more not listed)\n";
  }
  if (c.descendant_counts.started > 0) {
    const auto& n = c.descendant_counts;
    out += "  descendants: " + std::to_string(n.started) + " started, " +
           std::to_string(n.exited_normally) + " exited normally";
    if (n.alive) out += ", " + std::to_string(n.alive) + " still running";
    if (n.not_listed) out += ", " + std::to_string(n.not_listed) + " more abnormal deaths not listed";
    out += "\n";
    // The tree of deaths: each listed descendant under its parent, indented by depth.
    auto depth_of = [&c](pid_t ppid) {
      int depth = 0;
      for (int guard = 0; guard < 64 && ppid != c.process.pid; ++guard) {
        const Descendant* parent = nullptr;
        for (const auto& d : c.descendants)
          if (d.pid == ppid) parent = &d;
        if (!parent) break;
        ++depth;
        ppid = parent->ppid;
      }
      return depth;
    };
    for (const auto& d : c.descendants) {
      out += "    " + std::string(2 * depth_of(d.ppid), ' ') + "`" + join(d.argv) + "` (pid " +
             std::to_string(d.pid) + ", parent " + std::to_string(d.ppid) + "): ";
      if (!d.ended_at)
        out += "running\n";
      else
        out += (d.outcome.is_normal() ? d.outcome.describe() : s.red(d.outcome.describe())) + ": " +
               printable(d.cause.summary) + "\n";
    }
  }
  if (c.last_words) out += last_words_lines(*c.last_words);
  out += resources_line(c.resources);
  for (const auto& w : c.watcher.warnings) out += "  " + s.red("warning: ") + printable(w) + "\n";
  return out;
}

}  // namespace deathwatch
