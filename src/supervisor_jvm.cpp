// Java last words: the supervisor starts a JvmAgentSession (jvm_agent.h) for each JVM that
// the watch sees exec, and hands its report to the recorder when that process ends.
#include <signal.h>

#include <spdlog/spdlog.h>

#include "deathwatch/procfs.h"
#include "deathwatch/supervisor.h"

namespace deathwatch {

namespace {

bool is_java_launcher(const std::string& path) {
  const auto slash = path.rfind('/');
  return path.substr(slash == std::string::npos ? 0 : slash + 1) == "java";
}

}  // namespace

void Supervisor::maybe_attach_jvm(const ProcessExeced& exec) {
  if (options_.last_words == LastWordsPolicy::Never) return;
  const auto exe = read_link("/proc/" + std::to_string(exec.pid) + "/exe");
  if (!(exe && is_java_launcher(*exe)) && !(exec.path && is_java_launcher(*exec.path))) return;
  static const std::optional<std::string> jar = agent_jar_path();
  if (!jar) {
    recorder_.set_java_last_words(exec.pid, std::nullopt, "no Java last words: the deathwatch agent jar is not installed");
    return;
  }
  // One session per process: the same JVM told twice would get a second SIGQUIT once its
  // attach listener is up, and print a thread dump on its stdout. (A JVM that execs another
  // JVM keeps its pid, and its session.)
  if (jvm_sessions_.contains(exec.pid)) return;
  auto session = std::make_unique<JvmAgentSession>();
  // The attach sends the JVM one SIGQUIT (HotSpot's attach request): deathwatch's own probe.
  recorder_.expect_probe_signal(exec.pid, SIGQUIT);
  if (auto st = session->start(exec.pid, *jar); !st) {
    recorder_.set_java_last_words(exec.pid, std::nullopt, "no Java last words: " + st.error().describe());
    return;
  }
  spdlog::debug("JVM {}: loading the last-words agent", exec.pid);
  jvm_sessions_[exec.pid] = std::move(session);
}

void Supervisor::collect_java_last_words(const ProcessEnded& ended) {
  auto it = jvm_sessions_.find(ended.pid);
  if (it == jvm_sessions_.end()) return;
  std::optional<int> code, sig;
  if (ended.status.kind == WaitStatus::Kind::Exited) code = ended.status.value;
  if (ended.status.kind == WaitStatus::Kind::Killed) sig = ended.status.value;
  JavaAgentOutcome outcome = it->second->finish(code, sig);
  recorder_.set_java_last_words(ended.pid, std::move(outcome.java), std::move(outcome.note));
  jvm_sessions_.erase(it);
}

}  // namespace deathwatch
