// The Java agent's report and the session that loads the agent. See jvm_agent.h.
#include "deathwatch/jvm_agent.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <thread>
#include <utility>

#include "deathwatch/procfs.h"
#include "deathwatch/signals.h"
#include "deathwatch/scoped_fd.h"
#include "jvm_internal.h"

namespace deathwatch {

using namespace jvm_detail;

std::optional<std::string> agent_jar_path() {
  std::vector<std::string> candidates;
  if (auto exe = read_link("/proc/self/exe"))
    candidates.push_back((fs::path(*exe).parent_path() / "../share/deathwatch/deathwatch-agent.jar")
                             .lexically_normal().string());
#ifdef DEATHWATCH_AGENT_JAR_INSTALL
  candidates.emplace_back(DEATHWATCH_AGENT_JAR_INSTALL);
#endif
#ifdef DEATHWATCH_AGENT_JAR_BUILD
  candidates.emplace_back(DEATHWATCH_AGENT_JAR_BUILD);
#endif
  for (const auto& path : candidates)
    if (path_exists(path)) return path;
  return std::nullopt;
}

std::optional<JavaLastWords> parse_agent_report(std::string_view text, std::optional<int> exit_code,
                                                std::optional<int> signal) {
  auto lines = split_lines(text);
  if (lines.empty() || lines[0] != "deathwatch-agent\t1") return std::nullopt;
  JavaLastWords words;
  std::string kind = "unknown";
  std::vector<std::string> frames;
  for (auto line : lines) {
    const auto tab = line.find('\t');
    if (tab == std::string_view::npos) continue;
    const auto key = line.substr(0, tab);
    const std::string value(line.substr(tab + 1));
    if (key == "thread") words.thread = value;
    else if (key == "kind") kind = value;
    else if (key == "frame") frames.push_back(value);
  }
  if (words.thread.empty()) return std::nullopt;
  auto class_of = [](const std::string& frame) {
    const auto paren = frame.find('(');
    const auto dot = frame.rfind('.', paren);
    return dot == std::string::npos ? std::string() : frame.substr(0, dot);
  };
  auto is_machinery = [&](const std::string& frame) {
    const auto c = class_of(frame);
    return c == "java.lang.Shutdown" || c == "java.lang.Runtime" || c == "java.lang.System";
  };
  // Frames inside Shutdown.exit/shutdown are the shutdown waiting for the hooks: drop them.
  // The kept stack starts at the public call (System.exit, Runtime.exit, Shutdown.exit from a
  // signal handler, Shutdown.shutdown from DestroyJavaVM).
  std::size_t entry = frames.size();
  for (std::size_t i = 0; i < frames.size(); ++i)
    if (frames[i].rfind("java.lang.Shutdown.exit(", 0) == 0 ||
        frames[i].rfind("java.lang.Shutdown.shutdown(", 0) == 0) { entry = i; break; }
  if (entry == frames.size()) {
    words.stack = frames;
  } else {
    std::size_t api = entry;
    while (api + 1 < frames.size() && is_machinery(frames[api + 1])) ++api;
    words.stack.assign(frames.begin() + static_cast<long>(api), frames.end());
  }
  const std::string caller = words.stack.size() > 1 ? words.stack[1] : std::string();
  if (kind == "exit") {
    words.how = JavaLastWords::Shutdown::ExitCall;
    const std::string api = words.stack.empty() ? std::string() : words.stack[0];
    std::string call = api.rfind("java.lang.Runtime.exit(", 0) == 0 ? "Runtime.exit" : "System.exit";
    if (exit_code) call += "(" + std::to_string(*exit_code) + ")";
    words.reason = caller.empty() ? call + " called" : call + " called from " + caller;
  } else if (kind == "signal") {
    words.how = JavaLastWords::Shutdown::Signal;
    std::string name = words.thread.substr(0, words.thread.find(' '));
    if (name.rfind("SIG", 0) != 0 && signal) name = signal_name(*signal);
    words.reason = name + ": the JVM's \"" + words.thread + "\" thread began the shutdown";
  } else if (kind == "main-returned") {
    words.how = JavaLastWords::Shutdown::MainReturned;
    words.reason = "main returned: " + words.thread + " began the shutdown";
  } else {
    words.reason = "\"" + words.thread + "\" began the shutdown";
  }
  return words;
}

std::optional<JavaLastWords> read_agent_report(const std::string& path, std::optional<int> exit_code,
                                               std::optional<int> signal) {
  // The directory belongs to the JVM's user: no symlinks or hard links planted there are read.
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC));
  struct stat st{};
  if (!fd.is_open() || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1)
    return std::nullopt;
  std::string text;
  char buf[8192];
  ssize_t n;
  while (text.size() < (256 << 10) && (n = ::read(fd.get(), buf, sizeof buf)) > 0)
    text.append(buf, static_cast<std::size_t>(n));
  return parse_agent_report(text, exit_code, signal);
}

// --- JvmAgentSession ---

JvmAgentSession::~JvmAgentSession() {
  thread_.request_stop();
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  remove_files();
}

Status JvmAgentSession::start(pid_t pid, const std::string& jar, const std::string& report_dir) {
  pid_ = pid;
  std::string pattern = report_dir + "/deathwatch-jvm.XXXXXX";
  if (!::mkdtemp(pattern.data())) return SysError::from_errno("mkdtemp " + pattern);
  dir_ = pattern;
  report_ = dir_ + "/last-words";
  // A copy the JVM's user can read, whatever the permissions on the way to the original: a
  // jar the JVM cannot open makes the instrument library print an error on its stderr.
  jar_ = dir_ + "/deathwatch-agent.jar";
  std::error_code ec;
  fs::copy_file(jar, jar_, ec);
  if (ec) return SysError{"copy " + jar + " to " + jar_ + ": " + ec.message(), ec.value()};
  ::chmod(jar_.c_str(), 0644);
  // The agent creates the report as the JVM's user: the directory must be its own.
  const auto owner = effective_owner(pid);
  if (::geteuid() == 0 && owner && owner->first != 0 &&
      ::chown(dir_.c_str(), owner->first, owner->second) != 0)
    return SysError::from_errno("chown " + dir_);
  thread_ = std::jthread([this](std::stop_token stop) { run(stop); });
  return Ok{};
}

void JvmAgentSession::record(bool attached, std::string note) {
  std::lock_guard lock(mutex_);
  attached_ = attached;
  note_ = std::move(note);
}

void JvmAgentSession::run(std::stop_token stop) {
  const auto started = Clock::now();
  // Sleeps `period`, or less when finish() or the destructor asks the thread to stop.
  auto nap = [&](std::chrono::milliseconds period) {
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, stop, period, [] { return false; });
  };
  bool checked = false;
  while (true) {
    if (stop.stop_requested() || !alive(pid_))
      return record(false, "the JVM exited before its attach listener could be started");
    if (Clock::now() - started > 60s)
      return record(false, "the JVM was not ready for attaching within 60 s");
    if (!checked) {
      const JvmFacts facts = read_jvm_facts(pid_);
      // The launcher (or a wrapper script) maps libjvm.so a few milliseconds after exec.
      if (facts.has_libjvm || facts.openj9 || Clock::now() - started > 5s) {
        if (auto obstacle = jvm_attach_obstacle(facts)) return record(false, "not attached: " + *obstacle);
        checked = true;
      }
    }
    if (checked && jvm_signal_handlers_ready(pid_)) break;
    nap(20ms);
  }
  std::string kept;
  auto loaded = load_agent(pid_, jar_, report_, 5s, stop, &kept);
  {
    std::lock_guard lock(mutex_);
    kept_trigger_ = kept;
  }
  if (loaded) return record(true, {});
  return record(false, "attaching the Java agent failed: " + loaded.error().describe());
}

JavaAgentOutcome JvmAgentSession::finish(std::optional<int> exit_code, std::optional<int> signal) {
  if (outcome_) return *outcome_;
  thread_.request_stop();
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  JavaAgentOutcome outcome;
  if (dir_.empty()) {
    outcome.note = "no Java agent session was started";
  } else if (attached_) {
    outcome.java = read_agent_report(report_, exit_code, signal);
    if (!outcome.java)
      outcome.note = "the Java agent was loaded but left no report (Runtime.halt, SIGKILL or a crash "
                     "skip shutdown hooks)";
  } else {
    outcome.note = note_.empty() ? "the Java agent was not loaded" : note_;
  }
  outcome_ = outcome;
  return outcome;
}

void JvmAgentSession::remove_files() {
  if (dir_.empty()) return;
  for (const auto& path : {report_, report_ + ".partial", jar_}) ::unlink(path.c_str());
  ::rmdir(dir_.c_str());
  if (!kept_trigger_.empty() && !alive(pid_)) ::unlink(kept_trigger_.c_str());
  dir_.clear();
}

}  // namespace deathwatch
