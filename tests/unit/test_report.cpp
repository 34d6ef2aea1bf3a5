// The human-readable report (src/report.cpp).
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <regex>
#include <string>

#include "deathwatch/report.h"

using namespace deathwatch;
using std::chrono::milliseconds;
using std::chrono::seconds;

#include "builders.h"

using namespace deathwatch::testing;

namespace {

const WallTime kStart = WallTime{} + seconds(1795701299);  // 2026-11-26T13:54:59Z

std::string strip_ansi(const std::string& text) {
  static const std::regex escape("\033\\[[0-9;]*m");
  return std::regex_replace(text, escape, "");
}

Sender bash_sender() {
  Sender s;
  s.pid = 2362819;
  s.uid = 0;
  s.user = "root";
  s.comm = "bash";
  s.exe = "/usr/bin/bash";
  s.cmdline = std::vector<std::string>{"bash", "-c", "kill 4242"};
  s.ancestry = {{2362800, "sshd"}, {1, "systemd"}};
  s.unit = "ssh.service";
  s.source = "procfs";
  s.note = "read while the sender was alive";
  return s;
}

Certificate killed_by_sigterm() {
  Certificate c;
  c.final = true;
  c.process.pid = 4242;
  c.process.argv = {"sleep", "100"};
  c.process.started_at = kStart;
  c.process.ended_at = kStart + milliseconds(2500);
  c.outcome.kind = OutcomeKind::Killed;
  c.outcome.signal = SIGTERM;
  c.cause.category = CauseCategory::Signal;
  c.cause.confidence = Confidence::Certain;
  c.cause.signal = SIGTERM;
  c.cause.summary = "SIGTERM from bash (pid 2362819, uid 0 root)";
  c.cause.sender = bash_sender();
  c.cause.evidence = {"wait status: killed by SIGTERM",
                      "siginfo: SIGTERM si_code=SI_USER si_pid=2362819 si_uid=0"};

  SignalRecord r;
  r.time = r.last_time = kStart + milliseconds(2000);
  r.pid = r.tid = 4242;
  r.signo = SIGTERM;
  r.code = SI_USER;
  r.origin = SignalOrigin::Process;
  r.sender = bash_sender();
  c.signals.push_back(r);

  SignalRecord usr1 = r;
  usr1.signo = SIGUSR1;
  usr1.time = kStart + milliseconds(1250);
  usr1.count = 3;
  c.signals.push_back(usr1);

  c.resources.max_rss_kib = 1234;
  c.resources.user_cpu_s = 0.25;
  c.resources.sys_cpu_s = 0.5;
  return c;
}

Certificate runtime_of(double s) {
  Certificate c;
  c.final = true;
  c.process.pid = 1;
  c.process.argv = {"true"};
  c.process.started_at = kStart;
  c.process.ended_at =
      kStart + std::chrono::duration_cast<WallClock::duration>(std::chrono::duration<double>(s));
  c.outcome.kind = OutcomeKind::Exited;
  c.outcome.exit_code = 0;
  return c;
}

}  // namespace

TEST_CASE("render_report: a kill by another process, colour off") {
  const std::string out = render_report(killed_by_sigterm(), Colour::Off);
  CAPTURE(out);
  CHECK_FALSE(contains(out, "\033"));

  CHECK(contains(out, "deathwatch: sleep 100 (pid 4242) ran 2.500s\n"));
  CHECK(contains(out, "outcome:   killed by SIGTERM\n"));
  CHECK(contains(out, "cause:     signal (certain): SIGTERM from bash (pid 2362819, uid 0 root)\n"));
  CHECK(contains(out, "sender:    bash -c kill 4242\n"));
  CHECK(contains(out, "exe /usr/bin/bash\n"));
  CHECK(contains(out, "bash(2362819) <- sshd(2362800) <- systemd(1)\n"));
  CHECK(contains(out, "unit ssh.service\n"));
  CHECK(contains(out, "read while the sender was alive\n"));
  CHECK(contains(out, "evidence:  wait status: killed by SIGTERM\n"));
  CHECK(contains(out, "siginfo: SIGTERM si_code=SI_USER si_pid=2362819 si_uid=0\n"));
  CHECK(contains(out, "signals:\n"));
  CHECK(contains(out, "13:55:01.000  SIGTERM SI_USER from bash (pid 2362819, uid 0 root)\n"));
  CHECK(contains(out, "13:55:00.250  SIGUSR1 SI_USER from bash (pid 2362819, uid 0 root)  x3\n"));
  CHECK_FALSE(contains(out, "more not listed"));
  CHECK(contains(out, "resources: max RSS 1234 KiB, CPU 0.25s user + 0.50s sys\n"));
  CHECK_FALSE(contains(out, "warning"));
  // Lines come in the documented order.
  CHECK(out.find("outcome:") < out.find("cause:"));
  CHECK(out.find("cause:") < out.find("sender:"));
  CHECK(out.find("sender:") < out.find("evidence:"));
  CHECK(out.find("evidence:") < out.find("signals:"));
  CHECK(out.find("signals:") < out.find("resources:"));
}

TEST_CASE("render_report: colour on adds escapes and nothing else") {
  const Certificate c = killed_by_sigterm();
  const std::string plain = render_report(c, Colour::Off);
  const std::string coloured = render_report(c, Colour::On);
  CHECK(contains(coloured, "\033["));
  CHECK(contains(coloured, "\033[0m"));
  CHECK(coloured != plain);
  CHECK(strip_ansi(coloured) == plain);
  // An abnormal outcome is red, a normal one green.
  CHECK(contains(coloured, "\033[1;31mkilled by SIGTERM\033[0m"));

  Certificate ok = runtime_of(1.0);
  const std::string green = render_report(ok, Colour::On);
  CHECK(contains(green, "\033[32mexited with code 0\033[0m"));
  CHECK_FALSE(contains(render_report(ok, Colour::Off), "\033"));
}

TEST_CASE("render_report: a report with no sender has no sender lines") {
  Certificate c;
  c.final = true;
  c.process.pid = 7;
  c.process.argv = {"./crash"};
  c.process.started_at = kStart;
  c.process.ended_at = kStart + milliseconds(10);
  c.outcome.kind = OutcomeKind::Killed;
  c.outcome.signal = SIGSEGV;
  c.outcome.core_dumped = true;
  c.cause.category = CauseCategory::Crash;
  c.cause.confidence = Confidence::Certain;
  c.cause.summary = "crashed: SIGSEGV (SEGV_MAPERR) at address 0x0";
  SignalRecord r;
  r.time = r.last_time = kStart + milliseconds(9);
  r.pid = r.tid = 7;
  r.signo = SIGSEGV;
  r.code = SEGV_MAPERR;
  r.origin = SignalOrigin::Fault;
  r.fault_address = 0;
  c.signals.push_back(r);
  c.signals_not_listed = 5;

  const std::string out = render_report(c, Colour::Off);
  CAPTURE(out);
  CHECK(contains(out, "outcome:   killed by SIGSEGV (core dumped)\n"));
  CHECK(contains(out, "cause:     crash (certain): crashed: SIGSEGV (SEGV_MAPERR) at address 0x0\n"));
  CHECK_FALSE(contains(out, "sender:"));
  CHECK_FALSE(contains(out, " <- "));
  CHECK_FALSE(contains(out, "evidence:"));
  CHECK(contains(out, "13:54:59.009  SIGSEGV SEGV_MAPERR (fault)\n"));
  CHECK(contains(out, "(5 more not listed)\n"));
  // Unknown resources are not printed at all, never as zero.
  CHECK_FALSE(contains(out, "resources:"));
  CHECK_FALSE(contains(out, "0 KiB"));
}

TEST_CASE("render_report: resources only as far as they are known") {
  // An attached process (--pid) is not deathwatch's child: no rusage, JSON nulls.
  Certificate c = killed_by_sigterm();
  c.resources = Resources{};
  std::string out = render_report(c, Colour::Off);
  CAPTURE(out);
  CHECK_FALSE(contains(out, "resources:"));
  CHECK_FALSE(contains(out, "max RSS 0 KiB"));
  CHECK_FALSE(contains(out, "CPU 0.00s"));

  c.resources.max_rss_kib = 2048;
  out = render_report(c, Colour::Off);
  CHECK(contains(out, "resources: max RSS 2048 KiB, CPU unknown\n"));

  c.resources = Resources{};
  c.resources.user_cpu_s = 1.5;
  c.resources.sys_cpu_s = 0.25;
  out = render_report(c, Colour::Off);
  CHECK(contains(out, "resources: max RSS unknown, CPU 1.50s user + 0.25s sys\n"));

  // Zero that was measured is still printed.
  c.resources.max_rss_kib = 0;
  out = render_report(c, Colour::Off);
  CHECK(contains(out, "resources: max RSS 0 KiB, CPU 1.50s user + 0.25s sys\n"));
}

TEST_CASE("render_report: self-sent and forwarded signals") {
  Certificate c = runtime_of(1.0);
  SignalRecord self;
  self.time = self.last_time = kStart;
  self.pid = self.tid = 1;
  self.signo = SIGABRT;
  self.code = SI_TKILL;
  self.origin = SignalOrigin::Process;
  self.sender = Sender{};
  self.sender->pid = 1;
  self.sender->source = "self";
  c.signals.push_back(self);

  SignalRecord fwd = self;
  fwd.signo = SIGTERM;
  fwd.code = SI_USER;
  fwd.sender = bash_sender();
  fwd.forwarded_from = Sender{};
  fwd.forwarded_from->pid = 555;
  fwd.forwarded_from->comm = "systemctl";
  c.signals.push_back(fwd);

  const std::string out = render_report(c, Colour::Off);
  CAPTURE(out);
  CHECK(contains(out, "SIGABRT SI_TKILL from itself\n"));
  CHECK(contains(out, "SIGTERM SI_USER via deathwatch from systemctl (pid 555)\n"));
}

TEST_CASE("render_report: warnings") {
  Certificate c = runtime_of(1.0);
  c.watcher.warnings = {"ptrace unavailable: sender unknown"};
  const std::string out = render_report(c, Colour::Off);
  CHECK(contains(out, "  warning: ptrace unavailable: sender unknown\n"));
  CHECK(contains(render_report(c, Colour::On), "\033[1;31mwarning: \033[0m"));
}

TEST_CASE("render_report: run time formatting") {
  CHECK(contains(render_report(runtime_of(0.25), Colour::Off), " ran 0.250s\n"));
  CHECK(contains(render_report(runtime_of(90), Colour::Off), " ran 1m30.0s\n"));
  CHECK(contains(render_report(runtime_of(605.5), Colour::Off), " ran 10m05.5s\n"));
  CHECK(contains(render_report(runtime_of(7380), Colour::Off), " ran 2h03m\n"));
}

TEST_CASE("render_report: run time just under a whole minute never shows 60 seconds") {
  // 119.97 s is 1 min 59.97 s: "2m00.0s" (rounded) or "1m59.9s" (truncated), never "1m60.0s".
  const std::string out = render_report(runtime_of(119.97), Colour::Off);
  CAPTURE(out);
  CHECK_FALSE(contains(out, "m60.0s"));
  CHECK((contains(out, " ran 2m00.0s\n") || contains(out, " ran 1m59.9s\n")));
}

TEST_CASE("escape_for_terminal: C0, DEL and UTF-8 C1 controls are shown, other text kept") {
  CHECK(escape_for_terminal("\x1b[2J\x1b]0;X\x07") == "\\x1b[2J\\x1b]0;X\\x07");
  CHECK(escape_for_terminal("a\x7f") == "a\\x7f");
  CHECK(escape_for_terminal("\xc2\x9b" "2J") == "\\xc2\\x9b2J");  // U+009B: CSI
  CHECK(escape_for_terminal("caf\xc3\xa9 \xc2\xa0x") == "caf\xc3\xa9 \xc2\xa0x");
}

TEST_CASE("render_report: strings from outside are escaped everywhere, dispositions shown") {
  Certificate c = runtime_of(1.0);
  const std::string evil = "\x1b[2J\x1b]0;X\x07";
  c.cause.evidence = {"root cause: descendant pid 7: SIGTERM from " + evil};
  Sender s = bash_sender();
  s.note = "note " + evil;
  s.unit = evil + ".service";
  c.cause.sender = s;
  c.watcher.warnings = {"cannot execute " + evil};
  Descendant d;
  d.pid = 7;
  d.ppid = c.process.pid;
  d.argv = {evil};
  d.ended_at = c.process.started_at;
  d.outcome = killed(SIGTERM);
  d.cause.summary = "SIGTERM from " + evil;
  c.descendants = {d};
  c.descendant_counts.started = 1;
  SignalRecord segv;
  segv.time = segv.last_time = c.process.started_at;
  segv.pid = segv.tid = c.process.pid;
  segv.signo = SIGSEGV;
  segv.code = SEGV_MAPERR;
  segv.origin = SignalOrigin::Fault;
  segv.disposition = Disposition::Handled;
  SignalRecord hup = segv;
  hup.signo = SIGHUP;
  hup.code = SI_USER;
  hup.origin = SignalOrigin::Process;
  hup.disposition = Disposition::Ignored;
  c.signals = {segv, hup};
  const std::string out = render_report(c, Colour::Off);
  CAPTURE(out);
  CHECK(out.find('\x1b') == std::string::npos);
  CHECK(out.find('\x07') == std::string::npos);
  CHECK(contains(out, "SIGSEGV SEGV_MAPERR (fault)  (handled)\n"));
  CHECK(contains(out, "(ignored)\n"));
}
