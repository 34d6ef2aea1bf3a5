// The certificate model and its JSON form (src/certificate.cpp, src/clock.cpp).
#include <doctest/doctest.h>

#include <signal.h>

#include <chrono>
#include <string>

#include <nlohmann/json.hpp>

#include "deathwatch/certificate.h"
#include "deathwatch/clock.h"

using namespace deathwatch;
using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

WallTime at(long long secs, long long ms = 0) {
  return WallTime{} + std::chrono::duration_cast<WallClock::duration>(seconds(secs) + milliseconds(ms));
}

void require_keys(const json& object, std::initializer_list<const char*> keys) {
  REQUIRE(object.is_object());
  for (const char* key : keys) {
    CAPTURE(key);
    CHECK(object.contains(key));
  }
}

Sender full_sender() {
  Sender s;
  s.pid = 2362819;
  s.uid = 0;
  s.user = "root";
  s.comm = "bash";
  s.exe = "/usr/bin/bash";
  s.cmdline = std::vector<std::string>{"bash", "-c", "kill 42"};
  s.ancestry = {{2362800, "sshd"}, {1, "systemd"}};
  s.unit = "ssh.service";
  s.cgroup = "/system.slice/ssh.service";
  s.source = "procfs";
  s.note = "a note";
  return s;
}

}  // namespace

TEST_CASE("format_rfc3339") {
  CHECK(format_rfc3339(WallTime{}) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339(at(1795701299, 123)) == "2026-11-26T13:54:59.123Z");
  CHECK(format_rfc3339(at(951868799, 7)) == "2000-02-29T23:59:59.007Z");  // leap day
  CHECK(format_rfc3339(at(2147483648)) == "2038-01-19T03:14:08.000Z");    // past 32-bit time_t
  // Sub-millisecond parts are truncated, never rounded up into the next second.
  CHECK(format_rfc3339(WallTime{} + std::chrono::duration_cast<WallClock::duration>(
                                        std::chrono::microseconds(59'999'999))) ==
        "1970-01-01T00:00:59.999Z");
}

TEST_CASE("format_rfc3339 before the epoch") {
  // 1 ms before the epoch is 1969-12-31T23:59:59.999Z.
  CHECK(format_rfc3339(WallTime{} - milliseconds(1)) == "1969-12-31T23:59:59.999Z");
  CHECK(format_rfc3339(WallTime{} - seconds(1)) == "1969-12-31T23:59:59.000Z");
}

TEST_CASE("seconds_between") {
  CHECK(seconds_between(at(10), at(12, 500)) == doctest::Approx(2.5));
  CHECK(seconds_between(at(12, 500), at(10)) == doctest::Approx(-2.5));
  CHECK(seconds_between(at(5), at(5)) == 0.0);
}

TEST_CASE("category_name and confidence_name") {
  CHECK(std::string(category_name(CauseCategory::Exit)) == "exit");
  CHECK(std::string(category_name(CauseCategory::Signal)) == "signal");
  CHECK(std::string(category_name(CauseCategory::Terminal)) == "terminal");
  CHECK(std::string(category_name(CauseCategory::Oom)) == "oom");
  CHECK(std::string(category_name(CauseCategory::Crash)) == "crash");
  CHECK(std::string(category_name(CauseCategory::Kernel)) == "kernel");
  CHECK(std::string(category_name(CauseCategory::Unknown)) == "unknown");
  CHECK(std::string(confidence_name(Confidence::Certain)) == "certain");
  CHECK(std::string(confidence_name(Confidence::Likely)) == "likely");
  CHECK(std::string(confidence_name(Confidence::Unknown)) == "unknown");
}

TEST_CASE("Outcome::describe and is_normal") {
  Outcome o;
  o.kind = OutcomeKind::Exited;
  o.exit_code = 0;
  CHECK(o.describe() == "exited with code 0");
  CHECK(o.is_normal());
  o.exit_code = 3;
  CHECK(o.describe() == "exited with code 3");
  CHECK_FALSE(o.is_normal());

  Outcome k;
  k.kind = OutcomeKind::Killed;
  k.signal = SIGSEGV;
  k.core_dumped = true;
  CHECK(k.describe() == "killed by SIGSEGV (core dumped)");
  CHECK_FALSE(k.is_normal());
  k.signal = SIGKILL;
  k.core_dumped = false;
  CHECK(k.describe() == "killed by SIGKILL");

  Outcome a;
  a.kind = OutcomeKind::Alive;
  CHECK(a.describe() == "still alive (watch ended)");
  CHECK_FALSE(a.is_normal());
  CHECK(Outcome{}.describe() == "unknown");
  CHECK_FALSE(Outcome{}.is_normal());
}

TEST_CASE("Sender::ancestry_line") {
  const Sender s = full_sender();
  CHECK(s.ancestry_line() == "bash(2362819) <- sshd(2362800) <- systemd(1)");

  Sender no_comm;
  no_comm.pid = 5;
  no_comm.ancestry = {{1, "init"}};
  CHECK(no_comm.ancestry_line() == "?(5) <- init(1)");

  Sender no_pid;
  no_pid.comm = "x";
  no_pid.ancestry = {{1, "init"}};
  CHECK(no_pid.ancestry_line() == "init(1)");

  CHECK(Sender{}.ancestry_line().empty());
}

TEST_CASE("Sender::short_description") {
  CHECK(full_sender().short_description() == "bash (pid 2362819, uid 0 root)");

  Sender s;
  s.pid = 77;
  s.uid = 1000;
  CHECK(s.short_description() == "unknown process (pid 77, uid 1000)");

  s.comm = "sh";
  s.uid.reset();
  s.user = "ignored without uid";
  CHECK(s.short_description() == "sh (pid 77)");

  CHECK(Sender{}.short_description() == "unknown process (pid unknown)");
}

TEST_CASE("to_json(Sender): every key, nulls for what is unknown") {
  const json empty = to_json(Sender{});
  require_keys(empty, {"pid", "uid", "user", "comm", "exe", "cmdline", "ancestry", "unit",
                       "cgroup", "tid", "cgroup_id", "source", "note"});
  CHECK(empty.size() == 13);
  for (const char* key : {"pid", "uid", "user", "comm", "exe", "cmdline", "unit", "cgroup", "tid",
                          "cgroup_id", "note"}) {
    CAPTURE(key);
    CHECK(empty.at(key).is_null());
  }
  CHECK(empty.at("ancestry") == json::array());
  CHECK(empty.at("source") == "siginfo");

  const json full = to_json(full_sender());
  CHECK(full.at("pid") == 2362819);
  CHECK(full.at("uid") == 0);
  CHECK(full.at("user") == "root");
  CHECK(full.at("comm") == "bash");
  CHECK(full.at("exe") == "/usr/bin/bash");
  CHECK(full.at("cmdline") == json::array({"bash", "-c", "kill 42"}));
  CHECK(full.at("ancestry") == json::parse(R"([{"pid":2362800,"comm":"sshd"},{"pid":1,"comm":"systemd"}])"));
  CHECK(full.at("unit") == "ssh.service");
  CHECK(full.at("cgroup") == "/system.slice/ssh.service");
  CHECK(full.at("source") == "procfs");
  CHECK(full.at("note") == "a note");

  // An empty command line is known-empty, not unknown.
  Sender kernel_thread;
  kernel_thread.cmdline = std::vector<std::string>{};
  CHECK(to_json(kernel_thread).at("cmdline") == json::array());
}

TEST_CASE("to_json(SignalRecord)") {
  SignalRecord r;
  r.time = r.last_time = at(1795701299, 123);
  r.pid = 42;
  r.tid = 43;
  r.signo = SIGTERM;
  r.code = SI_USER;
  r.origin = SignalOrigin::Process;

  SUBCASE("a single record: no last_time, sender null when unknown") {
    const json j = to_json(r);
    require_keys(j, {"time", "pid", "tid", "signal", "signo", "code", "origin", "sender", "count"});
    CHECK(j.at("time") == "2026-11-26T13:54:59.123Z");
    CHECK(j.at("pid") == 42);
    CHECK(j.at("tid") == 43);
    CHECK(j.at("signal") == "SIGTERM");
    CHECK(j.at("signo") == SIGTERM);
    CHECK(j.at("code") == "SI_USER");
    CHECK(j.at("origin") == "process");
    CHECK(j.at("sender").is_null());
    CHECK(j.at("count") == 1);
    CHECK_FALSE(j.contains("last_time"));
    CHECK_FALSE(j.contains("fault_address"));
    CHECK_FALSE(j.contains("forwarded_from"));
  }
  SUBCASE("collapsed records carry count and last_time") {
    r.count = 5;
    r.last_time = at(1795701301, 456);
    const json j = to_json(r);
    CHECK(j.at("count") == 5);
    CHECK(j.at("time") == "2026-11-26T13:54:59.123Z");
    REQUIRE(j.contains("last_time"));
    CHECK(j.at("last_time") == "2026-11-26T13:55:01.456Z");
  }
  SUBCASE("sender and forwarded_from are sender objects") {
    r.sender = full_sender();
    Sender origin;
    origin.pid = 999;
    origin.comm = "systemctl";
    r.forwarded_from = origin;
    const json j = to_json(r);
    CHECK(j.at("sender") == to_json(full_sender()));
    REQUIRE(j.contains("forwarded_from"));
    CHECK(j.at("forwarded_from").at("pid") == 999);
    CHECK(j.at("forwarded_from").at("comm") == "systemctl");
    CHECK(j.at("forwarded_from").at("uid").is_null());
  }
  SUBCASE("faults carry their address in hex") {
    r.signo = SIGSEGV;
    r.code = SEGV_MAPERR;
    r.origin = SignalOrigin::Fault;
    r.fault_address = 0xdeadbeefull;
    const json j = to_json(r);
    CHECK(j.at("signal") == "SIGSEGV");
    CHECK(j.at("code") == "SEGV_MAPERR");
    CHECK(j.at("origin") == "fault");
    CHECK(j.at("fault_address") == "0xdeadbeef");

    r.fault_address = 0;  // a NULL dereference is a known address, not a missing one
    CHECK(to_json(r).at("fault_address") == "0x0");
  }
}

TEST_CASE("SignalRecord::same_key") {
  SignalRecord a;
  a.pid = 10;
  a.tid = 11;
  a.signo = SIGUSR1;
  a.code = SI_USER;
  a.sender = Sender{};
  a.sender->pid = 500;
  a.time = a.last_time = at(100);

  SignalRecord b = a;
  b.tid = 12;                    // another thread of the same process
  b.time = b.last_time = at(200);
  b.sender->comm = "different";  // only the sender's pid is part of the key
  CHECK(a.same_key(b));
  CHECK(b.same_key(a));

  SUBCASE("receiver") { b.pid = 99; CHECK_FALSE(a.same_key(b)); }
  SUBCASE("signal") { b.signo = SIGUSR2; CHECK_FALSE(a.same_key(b)); }
  SUBCASE("code") { b.code = SI_QUEUE; CHECK_FALSE(a.same_key(b)); }
  SUBCASE("sender pid") { b.sender->pid = 501; CHECK_FALSE(a.same_key(b)); }
  SUBCASE("no sender vs a sender") { b.sender.reset(); CHECK_FALSE(a.same_key(b)); }
  SUBCASE("fault address") { b.fault_address = 0x10; CHECK_FALSE(a.same_key(b)); }
  SUBCASE("forwarded vs direct") { b.forwarded_from = Sender{}; CHECK_FALSE(a.same_key(b)); }
}

TEST_CASE("to_json(Certificate): shape of a final certificate") {
  Certificate c;
  c.final = true;
  c.process.pid = 4242;
  c.process.argv = {"sleep", "100"};
  c.process.exe = "/usr/bin/sleep";
  c.process.started_at = at(1795701299, 0);
  c.process.ended_at = at(1795701301, 500);
  c.outcome.kind = OutcomeKind::Killed;
  c.outcome.signal = SIGTERM;
  c.cause.category = CauseCategory::Signal;
  c.cause.confidence = Confidence::Certain;
  c.cause.summary = "SIGTERM from bash (pid 2362819, uid 0 root)";
  c.cause.signal = SIGTERM;
  c.cause.sender = full_sender();
  c.cause.evidence = {"wait status: killed by SIGTERM", "siginfo: SIGTERM si_code=SI_USER"};
  SignalRecord r;
  r.time = r.last_time = at(1795701301, 0);
  r.pid = r.tid = 4242;
  r.signo = SIGTERM;
  r.code = SI_USER;
  r.origin = SignalOrigin::Process;
  r.sender = full_sender();
  c.signals = {r};
  c.signals_not_listed = 3;
  c.resources.max_rss_kib = 1234;
  c.resources.user_cpu_s = 0.25;
  c.watcher.version = "0.1.0";
  c.watcher.warnings = {"something odd"};
  c.watcher.backends = {{"ptrace", true, "seized"}, {"ebpf", false, "no CAP_BPF"}};

  // `now` is ignored once the process has ended.
  const json j = to_json(c, at(1795709999));

  require_keys(j, {"schema", "final", "process", "outcome", "cause", "signals",
                   "signals_not_listed", "descendants", "resources", "watcher"});
  CHECK(j.at("schema") == "deathwatch.certificate/1");
  CHECK(j.at("schema") == kCertificateSchema);
  CHECK(j.at("final") == true);

  const json& p = j.at("process");
  require_keys(p, {"pid", "argv", "exe", "cwd", "started_at", "ended_at", "runtime_s"});
  CHECK(p.at("pid") == 4242);
  CHECK(p.at("argv") == json::array({"sleep", "100"}));
  CHECK(p.at("exe") == "/usr/bin/sleep");
  CHECK(p.at("cwd").is_null());
  CHECK(p.at("started_at") == "2026-11-26T13:54:59.000Z");
  CHECK(p.at("ended_at") == "2026-11-26T13:55:01.500Z");
  CHECK(p.at("runtime_s").get<double>() == doctest::Approx(2.5));

  const json& o = j.at("outcome");
  require_keys(o, {"kind", "exit_code", "signal", "core_dumped"});
  CHECK(o.at("kind") == "killed");
  CHECK(o.at("exit_code").is_null());
  CHECK(o.at("signal") == "SIGTERM");
  CHECK(o.at("core_dumped") == false);

  const json& cause = j.at("cause");
  require_keys(cause, {"category", "summary", "signal", "sender", "confidence", "evidence"});
  CHECK(cause.at("category") == "signal");
  CHECK(cause.at("confidence") == "certain");
  CHECK(cause.at("summary") == c.cause.summary);
  CHECK(cause.at("signal") == "SIGTERM");
  CHECK(cause.at("sender") == to_json(full_sender()));
  CHECK(cause.at("evidence") ==
        json::array({"wait status: killed by SIGTERM", "siginfo: SIGTERM si_code=SI_USER"}));

  REQUIRE(j.at("signals").is_array());
  REQUIRE(j.at("signals").size() == 1);
  CHECK(j.at("signals").at(0) == to_json(r));
  CHECK(j.at("signals_not_listed") == 3);
  CHECK(j.at("descendants") == json::array());

  const json& res = j.at("resources");
  require_keys(res, {"max_rss_kib", "user_cpu_s", "sys_cpu_s"});
  CHECK(res.at("max_rss_kib") == 1234);
  CHECK(res.at("user_cpu_s").get<double>() == doctest::Approx(0.25));
  CHECK(res.at("sys_cpu_s").is_null());

  const json& w = j.at("watcher");
  require_keys(w, {"version", "warnings", "backends"});
  CHECK(w.at("version") == "0.1.0");
  CHECK(w.at("warnings") == json::array({"something odd"}));
  CHECK(w.at("backends") == json::parse(R"([{"name":"ptrace","active":true,"detail":"seized"},
                                         {"name":"ebpf","active":false,"detail":"no CAP_BPF"}])"));

  // The whole thing survives a round trip through text.
  CHECK(json::parse(j.dump()) == j);
}

TEST_CASE("to_json(Certificate): exited outcome, unknown cause sender") {
  Certificate c;
  c.final = true;
  c.process.started_at = at(0);
  c.process.ended_at = at(1);
  c.outcome.kind = OutcomeKind::Exited;
  c.outcome.exit_code = 3;
  c.cause.category = CauseCategory::Exit;
  c.cause.confidence = Confidence::Certain;
  const json j = to_json(c, at(50));
  CHECK(j.at("outcome").at("kind") == "exited");
  CHECK(j.at("outcome").at("exit_code") == 3);
  CHECK(j.at("outcome").at("signal").is_null());
  CHECK(j.at("cause").at("category") == "exit");
  CHECK(j.at("cause").at("signal").is_null());
  CHECK(j.at("cause").at("sender").is_null());
  CHECK(j.at("cause").at("evidence") == json::array());
  CHECK(j.at("signals") == json::array());
  CHECK(j.at("signals_not_listed") == 0);
  CHECK(j.at("process").at("argv") == json::array());
  CHECK(j.at("process").at("runtime_s").get<double>() == doctest::Approx(1.0));
  CHECK(j.at("resources").at("max_rss_kib").is_null());
  CHECK(j.at("watcher").at("backends") == json::array());
}

TEST_CASE("to_json(Certificate): a running (non-final) certificate") {
  Certificate c;
  c.final = false;
  c.process.pid = 7;
  c.process.started_at = at(100);
  c.cause.category = CauseCategory::Exit;  // not decided yet: must not be shown
  const json j = to_json(c, at(110, 250));
  CHECK(j.at("final") == false);
  CHECK(j.at("outcome").at("kind") == "running");
  CHECK(j.at("cause").at("category").is_null());
  CHECK(j.at("process").at("ended_at").is_null());
  // Without an end, the runtime runs up to `now`.
  CHECK(j.at("process").at("runtime_s").get<double>() == doctest::Approx(10.25));

  c.final = true;
  const json f = to_json(c, at(110));
  CHECK(f.at("outcome").at("kind") == "unknown");
  CHECK(f.at("cause").at("category") == "exit");

  c.outcome.kind = OutcomeKind::Alive;
  CHECK(to_json(c, at(110)).at("outcome").at("kind") == "alive");
}

TEST_CASE("event_line: one compact JSON line per signal") {
  SignalRecord r;
  r.time = r.last_time = at(1795701299, 123);
  r.pid = 42;
  r.tid = 43;
  r.signo = SIGTERM;
  r.code = SI_USER;
  r.origin = SignalOrigin::Process;

  SUBCASE("without a sender") {
    const std::string line = event_line(r);
    REQUIRE_FALSE(line.empty());
    CHECK(line.back() == '\n');
    CHECK(line.find('\n') == line.size() - 1);
    const json j = json::parse(line);
    CHECK(j.at("time") == "2026-11-26T13:54:59.123Z");
    CHECK(j.at("pid") == 42);
    CHECK(j.at("tid") == 43);
    CHECK(j.at("signal") == "SIGTERM");
    CHECK(j.at("code") == "SI_USER");
    CHECK(j.at("origin") == "process");
    CHECK_FALSE(j.contains("sender_pid"));
    CHECK_FALSE(j.contains("fault_address"));
    // The shared keys say the same as the certificate's entry.
    const json full = to_json(r);
    for (const char* key : {"time", "pid", "tid", "signal", "code", "origin"}) {
      CAPTURE(key);
      CHECK(j.at(key) == full.at(key));
    }
  }
  SUBCASE("sender by pid and comm, escaped") {
    Sender s;
    s.pid = 777;
    s.comm = "we\"ird\\name";
    r.sender = s;
    Sender origin;
    origin.pid = 999;
    r.forwarded_from = origin;
    const json j = json::parse(event_line(r));
    CHECK(j.at("sender_pid") == 777);
    CHECK(j.at("sender_comm") == "we\"ird\\name");
    CHECK(j.at("forwarded_from_pid") == 999);
  }
  SUBCASE("a sender with unknown pid and comm") {
    r.sender = Sender{};
    const json j = json::parse(event_line(r));
    CHECK(j.at("sender_pid").is_null());
    CHECK(j.at("sender_comm").is_null());
  }
  SUBCASE("faults") {
    r.signo = SIGSEGV;
    r.code = SEGV_MAPERR;
    r.origin = SignalOrigin::Fault;
    r.fault_address = 0x1000;
    const json j = json::parse(event_line(r));
    CHECK(j.at("fault_address") == "0x1000");
    CHECK(j.at("code") == "SEGV_MAPERR");
  }
}

TEST_CASE("event_line: a comm cut inside a UTF-8 character still gives a JSON line") {
  // The kernel truncates comm to 15 bytes, which can split a multi-byte character: an
  // executable named "ééééééééé" (18 bytes) has comm "\xc3\xa9" x 7 + "\xc3".
  SignalRecord r;
  r.pid = r.tid = 42;
  r.signo = SIGTERM;
  r.code = SI_USER;
  r.origin = SignalOrigin::Process;
  r.sender = Sender{};
  r.sender->pid = 777;
  r.sender->comm = std::string("\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3");
  std::string line;
  REQUIRE_NOTHROW(line = event_line(r));
  CHECK_NOTHROW(json::parse(line));
}
