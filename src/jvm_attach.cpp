// Attaching to a HotSpot JVM: may we (jvm_attach_obstacle), when (jvm_signal_handlers_ready),
// and the attach protocol itself (load_agent). See jvm_agent.h.
#include "deathwatch/jvm_agent.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <thread>
#include <tuple>
#include <utility>

#include "deathwatch/procfs.h"
#include "deathwatch/scoped_fd.h"
#include "deathwatch/signals.h"
#include "jvm_internal.h"

namespace deathwatch {

using namespace jvm_detail;

namespace {

// One request on the attach socket and the whole reply, within `deadline`.
Result<std::string> attach_exchange(const std::string& socket_path, const std::string& request,
                                    Clock::time_point deadline, const std::stop_token& stop) {
  ScopedFd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!sock.is_open()) return SysError::from_errno("socket AF_UNIX");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path.c_str());
  if (::connect(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 && errno != EINPROGRESS)
    return SysError::from_errno("connect " + socket_path);
  // Waits until the socket is ready for `events`, in slices so that `stop` is honoured.
  auto wait_for = [&](short events) -> Status {
    while (true) {
      if (stop.stop_requested()) return SysError{"attach abandoned", ECANCELED};
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left <= 0ms) return SysError{"the JVM did not answer the attach request in time", ETIMEDOUT};
      pollfd p{sock.get(), events, 0};
      const int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(left.count(), 50)));
      if (n > 0) return Ok{};
      if (n < 0 && errno != EINTR) return SysError::from_errno("poll attach socket");
    }
  };
  for (std::size_t sent = 0; sent < request.size();) {
    if (auto ready = wait_for(POLLOUT); !ready) return ready.error();
    const ssize_t n = ::send(sock.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno != EAGAIN && errno != EINTR) return SysError::from_errno("send attach request");
    if (n > 0) sent += static_cast<std::size_t>(n);
  }
  std::string reply;
  while (reply.size() < 65536) {
    if (auto ready = wait_for(POLLIN); !ready) return ready.error();
    char buf[4096];
    const ssize_t n = ::recv(sock.get(), buf, sizeof buf, 0);
    if (n == 0) break;
    if (n < 0 && errno != EAGAIN && errno != EINTR) return SysError::from_errno("read attach reply");
    if (n > 0) reply.append(buf, static_cast<std::size_t>(n));
  }
  return reply;
}

}  // namespace

std::optional<int> java_major_version(std::string_view release_text) {
  auto version = release_value(release_text, "JAVA_VERSION");
  if (!version || version->empty()) return std::nullopt;
  const char* text = version->c_str();
  if (version->rfind("1.", 0) == 0) text += 2;  // 1.8.0_392 → 8
  char* end = nullptr;
  const long major = std::strtol(text, &end, 10);
  if (end == text || major <= 0) return std::nullopt;
  return static_cast<int>(major);
}

std::optional<bool> hotspot_flag(const std::vector<std::string>& options, std::string_view name) {
  std::optional<bool> state;
  const std::string on = "-XX:+" + std::string(name), off = "-XX:-" + std::string(name);
  for (const auto& option : options) {
    if (option == on) state = true;
    if (option == off) state = false;
    if (name == "ReduceSignalUsage" && option == "-Xrs") state = true;
  }
  return state;
}

JvmFacts read_jvm_facts(pid_t pid) {
  JvmFacts facts;
  facts.our_euid = ::geteuid();
  facts.our_egid = ::getegid();
  if (auto maps = read_text_file(proc(pid, "maps"), 8 << 20)) {
    for (auto line : split_lines(*maps)) {
      const auto slash = line.find('/');
      if (slash == std::string_view::npos) continue;
      std::string path(line.substr(slash));
      if (path.ends_with(" (deleted)")) path.resize(path.size() - 10);
      const std::string base = fs::path(path).filename().string();
      if (base.rfind("libj9vm", 0) == 0) facts.openj9 = true;
      if (base != "libjvm.so" || facts.has_libjvm) continue;
      facts.has_libjvm = true;
      // .../lib/server/libjvm.so (JDK 9+), .../jre/lib/amd64/server/libjvm.so (JDK 8)
      fs::path dir = fs::path(path).parent_path();
      for (int up = 0; up < 5 && dir.has_relative_path(); ++up, dir = dir.parent_path()) {
        if (auto release = read_text_file((dir / "release").string())) {
          facts.java_home = dir.string();
          facts.release = *release;
          break;
        }
      }
    }
  }
  if (auto owner = effective_owner(pid)) std::tie(facts.jvm_euid, facts.jvm_egid) = *owner;
  auto same = [&](const char* leaf) {
    auto ours = read_link(std::string("/proc/self/") + leaf);
    auto theirs = read_link(proc(pid, leaf));
    return ours && theirs && *ours == *theirs;
  };
  facts.same_mount_namespace = same("ns/mnt");
  facts.same_pid_namespace = same("ns/pid");
  facts.same_root = same("root");

  const std::string cwd = read_link(proc(pid, "cwd")).value_or("/");
  auto add_file = [&](const std::string& name) {
    const fs::path path = fs::path(name).is_absolute() ? fs::path(name) : fs::path(cwd) / name;
    auto text = read_text_file(path.string(), 1 << 20);
    if (!text) facts.options_unreadable = true;
    else for (auto& word : split_words(*text)) facts.options.push_back(std::move(word));
  };
  auto add_words = [&](const std::optional<std::string>& text) {
    if (text) for (auto& word : split_words(*text)) facts.options.push_back(std::move(word));
  };
  auto environ = read_text_file(proc(pid, "environ"), 1 << 20);
  const std::string env = environ ? *environ : std::string();
  add_words(env_value(env, "JAVA_TOOL_OPTIONS"));
  add_words(env_value(env, "JDK_JAVA_OPTIONS"));
  if (auto cmdline = read_text_file(proc(pid, "cmdline"), 1 << 20)) {
    auto args = split_cmdline(*cmdline);
    for (std::size_t i = 1; i < args.size(); ++i) {
      if (args[i].size() > 1 && args[i][0] == '@') add_file(args[i].substr(1));
      else if (args[i].rfind("-XX:VMOptionsFile=", 0) == 0) add_file(args[i].substr(18));
      else facts.options.push_back(args[i]);
    }
  }
  add_words(env_value(env, "_JAVA_OPTIONS"));
  return facts;
}

std::optional<std::string> jvm_attach_obstacle(const JvmFacts& facts) {
  if (facts.openj9) return "an OpenJ9 JVM (deathwatch speaks HotSpot's attach protocol only)";
  if (!facts.has_libjvm) return "not a HotSpot JVM (no libjvm.so mapped)";
  if (!facts.same_mount_namespace || !facts.same_root)
    return "the JVM runs in another mount namespace or root (its /tmp is not deathwatch's)";
  if (!facts.same_pid_namespace) return "the JVM runs in another pid namespace";
  if (facts.our_euid != 0 && (facts.our_euid != facts.jvm_euid || facts.our_egid != facts.jvm_egid))
    return "the JVM runs as another user (HotSpot accepts attach requests from its own uid/gid or root)";
  if (!facts.release) return "the JVM's version is unknown (no release file beside its libjvm.so)";
  const auto major = java_major_version(*facts.release);
  if (!major) return "the JVM's version is unknown (no JAVA_VERSION in its release file)";
  if (*major < 8) return "Java " + std::to_string(*major) + " is older than the agent (Java 8)";
  if (auto modules = release_value(*facts.release, "MODULES");
      modules && modules->find("java.instrument") == std::string::npos)
    return "the JVM's runtime lacks the java.instrument module";
  if (facts.options_unreadable) return "an @argfile or -XX:VMOptionsFile of the JVM could not be read";
  for (const auto& option : facts.options)
    if (option.rfind("-XX:Flags=", 0) == 0) return "the JVM reads flags from a -XX:Flags file";
  if (hotspot_flag(facts.options, "ReduceSignalUsage").value_or(false))
    return "the JVM runs with -Xrs (-XX:+ReduceSignalUsage): SIGQUIT would not reach the attach mechanism";
  if (hotspot_flag(facts.options, "DisableAttachMechanism").value_or(false))
    return "the JVM runs with -XX:+DisableAttachMechanism (a SIGQUIT would print a thread dump)";
  const auto dynamic = hotspot_flag(facts.options, "EnableDynamicAgentLoading");
  if (dynamic == false) return "the JVM runs with -XX:-EnableDynamicAgentLoading";
  if (*major >= 21 && dynamic != true)
    return "JDK " + std::to_string(*major) +
           " would print a warning on dynamic agent loading (JEP 451) unless run with "
           "-XX:+EnableDynamicAgentLoading";
  return std::nullopt;
}

// Why both conditions (verified in openjdk/jdk17u-dev, and measured on 17.0.15):
// - src/hotspot/os/posix/signals_posix.cpp, install_signal_handlers(): current 17u installs
//   the SIGQUIT (BREAK_SIGNAL) handler early, in PosixSignals::init, and queues a SIGQUIT until
//   the "Signal Dispatcher" thread starts; older builds (os.cpp, initialize_jdk_signal_support)
//   installed it only after starting that thread. Without the handler SIGQUIT's default action
//   kills the JVM with a core dump, so SigCgt must show it either way.
// - src/hotspot/share/runtime/thread.cpp, Threads::create_vm(): after starting the dispatcher it
//   calls AttachListener::vm_start(), which unlinks /tmp/.java_pid<pid> (a listener started by
//   an early, queued SIGQUIT can lose its socket to it), and only later initializes the module
//   system and the system class loader (initPhase2/3): a "load" before that fails inside the
//   JVM with a NullPointerException (seen at the "Service Thread"'s appearance). The last
//   thread create_vm starts is the WatcherThread ("VM Periodic Task Thread", comm
//   "VM Periodic Tas", WatcherThread::run_all_tasks at its end), so its presence marks a JVM
//   ready for agents. Measured: SigCgt shows SIGQUIT ~20 ms after exec, the Service Thread at
//   ~180 ms, the VM Periodic Task Thread ~20 ms before main() runs.
// JDK 8 does not name its threads on Linux: there no thread is called "VM Thread" either, and
// SigCgt alone is used (JDK 8 installs the handler after starting the dispatcher).
bool jvm_signal_handlers_ready(std::string_view status_text, const std::vector<std::string>& names) {
  if (parse_disposition(status_text, SIGQUIT) != Disposition::Handled) return false;
  const auto named = [&](std::string_view name) {
    return std::find(names.begin(), names.end(), name) != names.end();
  };
  return named("VM Periodic Tas") || !named("VM Thread");
}

bool jvm_signal_handlers_ready(pid_t pid) {
  auto status = read_text_file(proc(pid, "status"));
  return status.ok() && jvm_signal_handlers_ready(*status, thread_names(pid));
}

Status parse_attach_reply(std::string_view reply) {
  auto lines = split_lines(reply);
  if (lines.empty()) return SysError{"the JVM closed the attach connection without an answer", 0};
  auto number = [](std::string_view text) -> std::optional<int> {
    if (text.rfind("return code: ", 0) == 0) text.remove_prefix(13);
    if (text.empty()) return std::nullopt;
    char* end = nullptr;
    const std::string copy(text);
    const long value = std::strtol(copy.c_str(), &end, 10);
    if (*end != '\0') return std::nullopt;
    return static_cast<int>(value);
  };
  auto rest = [&](std::size_t from) {
    std::string text;
    for (std::size_t i = from; i < lines.size() && text.size() < 300; ++i)
      text += (text.empty() ? "" : " ") + std::string(lines[i]);
    return text;
  };
  const auto status = number(lines[0]);
  if (!status) return SysError{"unexpected attach answer: " + rest(0), 0};
  if (*status != 0)
    return SysError{"the JVM refused the load command (" + std::to_string(*status) + "): " + rest(1), 0};
  const auto agent = lines.size() > 1 ? number(lines[1]) : std::nullopt;
  if (!agent) return SysError{"the JVM could not load the agent: " + rest(1), 0};
  if (*agent != 0)
    return SysError{"the agent failed to start (Agent_OnAttach returned " + std::to_string(*agent) + ")", 0};
  return Ok{};
}

Status load_agent(pid_t pid, const std::string& jar, const std::string& options,
                  std::chrono::milliseconds timeout, std::stop_token stop, std::string* kept_trigger) {
  const auto deadline = Clock::now() + timeout;
  const std::string socket_path = "/tmp/.java_pid" + std::to_string(pid);
  const std::string argument = jar + "=" + options;
  if (argument.size() > 1024)  // AttachOperation::arg_length_max
    return SysError{"agent path and options exceed HotSpot's 1024-byte argument limit", 0};

  if (!path_exists(socket_path)) {
    auto status = read_text_file(proc(pid, "status"));
    if (!status) return status.error();
    if (parse_disposition(*status, SIGQUIT) != Disposition::Handled)
      return SysError{"the JVM does not catch SIGQUIT (yet): not sending it", 0};
    // HotSpot (attachListener_linux.cpp, is_init_trigger) looks for .attach_pid<pid> in its
    // cwd, then in /tmp, and accepts it if owned by its euid or root (JDK 8: its euid only).
    std::string trigger;
    ScopedFd fd;
    bool ours = false;
    std::vector<std::string> places;
    if (auto cwd = read_link(proc(pid, "cwd")); cwd && !cwd->ends_with(" (deleted)"))
      places.push_back(*cwd + "/.attach_pid" + std::to_string(pid));
    places.push_back("/tmp/.attach_pid" + std::to_string(pid));
    for (const auto& place : places) {
      fd.reset(::open(place.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
      if (fd.is_open() || errno == EEXIST) {
        trigger = place;
        ours = fd.is_open();
        break;
      }
    }
    if (trigger.empty()) return SysError::from_errno("create the attach trigger " + places.back());
    if (ours) {
      const auto owner = effective_owner(*status);
      if (::geteuid() == 0 && owner && ::fchown(fd.get(), owner->first, owner->second) != 0) {
        const auto error = SysError::from_errno("chown " + trigger);
        ::unlink(trigger.c_str());
        return error;
      }
      fd.reset();
    }
    if (::kill(pid, SIGQUIT) != 0) {
      const auto error = SysError::from_errno("kill SIGQUIT " + std::to_string(pid));
      if (ours) ::unlink(trigger.c_str());
      return error;
    }
    bool up = false, gone = false;
    while (!(up = path_exists(socket_path)) && Clock::now() < deadline && !stop.stop_requested()) {
      if ((gone = !alive(pid))) break;
      std::this_thread::sleep_for(10ms);
    }
    // Once the socket is there HotSpot has read the trigger; a JVM that is gone reads nothing.
    // Otherwise HotSpot may still look for the file: keep it (see the header).
    if (ours && (up || gone || !alive(pid))) ::unlink(trigger.c_str());
    else if (ours && kept_trigger) *kept_trigger = trigger;
    if (!up) {
      if (gone || !alive(pid)) return SysError{"the JVM exited before its attach listener started", ESRCH};
      if (stop.stop_requested()) return SysError{"attach abandoned", ECANCELED};
      return SysError{"the JVM's attach listener did not start within " +
                          std::to_string(timeout.count()) + " ms", ETIMEDOUT};
    }
  }

  // Protocol 1 (attachListener_linux.cpp, read_request): <ver>\0<cmd>\0 and exactly three
  // arguments: "instrument" (the JPLIS library), "false" (not an absolute path), "<jar>=<opts>".
  std::string request;
  for (const std::string& part : {std::string("1"), std::string("load"), std::string("instrument"),
                                  std::string("false"), argument})
    request.append(part).push_back('\0');
  // A JVM that has just started its attach listener may not have its boot module layer yet:
  // the load then fails inside the JVM (Modules.loadModule throws NullPointerException, reply
  // "-1"), before the instrument library is touched and without any output. Such a refusal is
  // retried until the deadline; a failure of the agent itself (reply "0", then non-zero) is not.
  while (true) {
    auto reply = attach_exchange(socket_path, request, deadline, stop);
    if (!reply) return reply.error();
    auto loaded = parse_attach_reply(*reply);
    if (loaded || reply->rfind("0\n", 0) == 0 || Clock::now() + 100ms >= deadline) return loaded;
    for (int i = 0; i < 10 && !stop.stop_requested(); ++i) std::this_thread::sleep_for(10ms);
    if (stop.stop_requested()) return loaded;
  }
}

}  // namespace deathwatch
