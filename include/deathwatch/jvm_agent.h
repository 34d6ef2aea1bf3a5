// The Java last words of a HotSpot JVM: which Java thread began its shutdown, and from where.
//
// deathwatch loads its Java agent (src/java/DeathwatchAgent.java) into the running JVM through
// HotSpot's dynamic attach mechanism, the way jcmd does, without touching the command line.
// The agent registers a shutdown hook; while the hooks run, the thread that called System.exit
// (or the "SIGTERM handler" thread, or DestroyJavaVM after main returned) is still waiting
// inside java.lang.Shutdown, so the hook finds it by its stack and writes a report file that
// deathwatch reads after the process ended.
//
// Nothing here may disturb the JVM: a JVM that cannot be attached safely is left alone (see
// jvm_attach_obstacle), SIGQUIT is sent only when HotSpot will read it as an attach request
// (jvm_signal_handlers_ready, and the trigger file is in place), and the agent prints nothing.
// Runtime.halt and fatal signals run no shutdown hooks: they leave no report.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "deathwatch/error.h"
#include "deathwatch/last_words.h"

namespace deathwatch {

// The agent jar: beside the binary (<exe dir>/../share/deathwatch/deathwatch-agent.jar), then
// under the install prefix, then in the build tree; the first that exists.
std::optional<std::string> agent_jar_path();

// What deathwatch knows about a process before attaching to it (read_jvm_facts).
struct JvmFacts {
  bool has_libjvm = false;                // /proc/PID/maps maps libjvm.so
  bool openj9 = false;                    // libj9vm*.so: OpenJ9 attaches differently
  std::optional<std::string> java_home;   // the libjvm.so's JDK, where `release` was found
  std::optional<std::string> release;     // the text of <java_home>/release
  // JVM options in HotSpot's order of precedence (JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS, the
  // command line with @argfiles and -XX:VMOptionsFile= expanded, _JAVA_OPTIONS): the last
  // occurrence of a flag wins.
  std::vector<std::string> options;
  bool options_unreadable = false;        // an @argfile or options file could not be read
  bool same_mount_namespace = true, same_root = true, same_pid_namespace = true;
  uid_t jvm_euid = 0, our_euid = 0;
  gid_t jvm_egid = 0, our_egid = 0;
};

// The major Java version in a JDK `release` file (JAVA_VERSION="17.0.15" → 17,
// "1.8.0_392" → 8), nullopt when absent.
std::optional<int> java_major_version(std::string_view release_text);
// Whether the boolean HotSpot flag `name` is on, off or unset in `options` (last one wins;
// -Xrs counts as -XX:+ReduceSignalUsage).
std::optional<bool> hotspot_flag(const std::vector<std::string>& options, std::string_view name);
// Gathers JvmFacts from /proc. Never fails: what cannot be read stays at its default.
JvmFacts read_jvm_facts(pid_t pid);
// nullopt when deathwatch may attach to the JVM these facts describe, else a one-line reason.
std::optional<std::string> jvm_attach_obstacle(const JvmFacts& facts);

// Whether HotSpot will take a SIGQUIT as an attach request and can load an agent now: SigCgt
// has SIGQUIT and the JVM finished Threads::create_vm (its "VM Periodic Task Thread" exists;
// see jvm_attach.cpp). Before that a SIGQUIT kills the JVM (no handler yet), races with
// AttachListener::vm_start, or the load fails because the system class loader is not ready.
bool jvm_signal_handlers_ready(pid_t pid);
// The pure part: a /proc/PID/status text and the names (comm) of the JVM's threads.
bool jvm_signal_handlers_ready(std::string_view status_text,
                               const std::vector<std::string>& thread_names);

// HotSpot's answer to a "load" command ("0\n0\n" on JDK 17, "0\nreturn code: 0\n" on 21+):
// Ok when the agent loaded and its agentmain returned.
Status parse_attach_reply(std::string_view reply);

// Loads the Java agent `jar` into JVM `pid` with `options` (agentmain's argument) through the
// HotSpot attach protocol, within `timeout` or until `stop` is requested. Blocks; call it off
// the event loop. When the attach listener did not start in time, the trigger file is left in
// place (removing it while HotSpot may still look for it would make the JVM print a thread
// dump) and its path is stored in *kept_trigger for removal after the JVM ended.
Status load_agent(pid_t pid, const std::string& jar, const std::string& options,
                  std::chrono::milliseconds timeout, std::stop_token stop = {},
                  std::string* kept_trigger = nullptr);

// The agent's report, parsed (pure) or read from `path`. nullopt when there is none, it is
// malformed, or the agent found no thread that began the shutdown. `exit_code` / `signal`
// (how the process ended, when known) only refine the wording of `reason`.
std::optional<JavaLastWords> parse_agent_report(std::string_view text, std::optional<int> exit_code,
                                                std::optional<int> signal);
std::optional<JavaLastWords> read_agent_report(const std::string& path,
                                               std::optional<int> exit_code,
                                               std::optional<int> signal);

// What an attach attempt yielded: the Java last words, or a note saying why there are none.
struct JavaAgentOutcome {
  std::optional<JavaLastWords> java;
  std::optional<std::string> note;
};

// One attach attempt on a JVM, on a thread of its own: it waits until the JVM can be attached
// (polling every 20 ms, for up to 60 s), then loads the agent with a 5 s timeout. Files live
// in a private directory (0700, owned by the JVM's user when deathwatch is root) that the
// destructor removes.
class JvmAgentSession {
 public:
  JvmAgentSession() = default;
  ~JvmAgentSession();
  JvmAgentSession(const JvmAgentSession&) = delete;
  JvmAgentSession& operator=(const JvmAgentSession&) = delete;

  // Starts the attempt. An error only when the private directory or the jar's copy in it
  // cannot be made; a JVM that cannot be attached is an outcome that finish() reports.
  Status start(pid_t pid, const std::string& jar, const std::string& report_dir = "/tmp");
  // Stops the attempt (within ~50 ms), joins, and reads the report. Call after the process
  // ended. Idempotent: later calls return the first outcome.
  JavaAgentOutcome finish(std::optional<int> exit_code, std::optional<int> signal);

 private:
  void run(std::stop_token stop);
  void record(bool attached, std::string note);
  void remove_files();

  pid_t pid_ = 0;
  std::string dir_, jar_, report_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_;
  bool attached_ = false;
  std::string note_;
  std::string kept_trigger_;
  std::optional<JavaAgentOutcome> outcome_;
  std::jthread thread_;  // last: joined first on destruction
};

}  // namespace deathwatch
