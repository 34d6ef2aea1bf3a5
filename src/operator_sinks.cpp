#include "deathwatch/operator_sinks.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "deathwatch/certificate_writer.h"
#include "deathwatch/death_facts.h"
#include "deathwatch/metrics_text.h"
#include "deathwatch/procfs.h"
#include "deathwatch/report.h"
#include "deathwatch/scoped_fd.h"

extern char** environ;

namespace deathwatch {

namespace {

Status write_whole(int fd, std::string_view text, const std::string& what) {
  while (!text.empty()) {
    const ssize_t n = ::write(fd, text.data(), text.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return SysError::from_errno("write " + what);
    text.remove_prefix(static_cast<std::size_t>(n));
  }
  return Ok{};
}

class TerminationLogSink : public Sink {
 public:
  explicit TerminationLogSink(std::string path) : path_(std::move(path)) {}
  void final(const Certificate& certificate) override {
    std::string message = certificate.cause.summary;
    if (message.empty()) message = certificate.outcome.describe();
    if (message.size() > kTerminationMessageLimit) message.resize(kTerminationMessageLimit);
    ScopedFd fd(::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOCTTY | O_NOFOLLOW | O_CLOEXEC, 0644));
    Status st = fd.is_open() ? write_whole(fd.get(), message, path_) : SysError::from_errno("open " + path_);
    if (!st) spdlog::error("--termination-log: {}", escape_for_terminal(st.error().describe()));
  }

 private:
  std::string path_;
};

class DeathHookSink : public Sink {
 public:
  DeathHookSink(std::string command, std::string certificate, std::chrono::milliseconds timeout)
      : command_(std::move(command)), certificate_(std::move(certificate)), timeout_(timeout) {}

  void final(const Certificate& c) override {
    const DeathFacts f = death_facts(c);
    std::vector<std::string> env;
    for (char** e = environ; e && *e; ++e)
      if (std::strncmp(*e, "DEATHWATCH_", 11) != 0) env.emplace_back(*e);  // ours, not inherited ones
    if (!certificate_.empty()) env.push_back("DEATHWATCH_CERT=" + certificate_);
    for (const auto& [key, value] : death_fields(f)) env.push_back("DEATHWATCH_" + key + "=" + value);
    run(env);
  }

 private:
  void run(const std::vector<std::string>& env) {
    std::vector<char*> envp;
    for (const auto& e : env) envp.push_back(const_cast<char*>(e.c_str()));
    envp.push_back(nullptr);
    const char* argv[] = {"/bin/sh", "-c", command_.c_str(), nullptr};
    // Its own process group (killed whole on timeout), default signal actions and an empty
    // mask: deathwatch's own signal handling is not the hook's.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    pid_t pid = 0;
    const int err = posix_spawn(&pid, "/bin/sh", nullptr, &attr, const_cast<char* const*>(argv), envp.data());
    posix_spawnattr_destroy(&attr);
    if (err != 0) {
      spdlog::error("--on-death: cannot run /bin/sh: {}", std::strerror(err));
      return;
    }
    int status = 0;
    if (!wait_within(pid, status)) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      spdlog::error("--on-death: killed after {} s: {}", timeout_.count() / 1000, escape_for_terminal(command_));
      return;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0)
      spdlog::error("--on-death: exited with code {}: {}", WEXITSTATUS(status), escape_for_terminal(command_));
    else if (WIFSIGNALED(status))
      spdlog::error("--on-death: killed by signal {}: {}", WTERMSIG(status), escape_for_terminal(command_));
  }

  // Reaps `pid` into `status` if it ends within the timeout. pidfd and poll where the kernel
  // has them, else a polling waitpid.
  bool wait_within(pid_t pid, int& status) const {
    ScopedFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
    if (pidfd.is_open()) {
      struct pollfd p {pidfd.get(), POLLIN, 0};
      int ready = 0;
      do {
        ready = ::poll(&p, 1, static_cast<int>(timeout_.count()));
      } while (ready < 0 && errno == EINTR);
      if (ready == 0) return false;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
      return true;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout_;
    while (std::chrono::steady_clock::now() < deadline) {
      const pid_t r = ::waitpid(pid, &status, WNOHANG);
      if (r == pid || (r < 0 && errno != EINTR)) return true;
      ::usleep(20000);
    }
    return false;
  }

  std::string command_;
  std::string certificate_;
  std::chrono::milliseconds timeout_;
};

class MetricsFileSink : public Sink {
 public:
  explicit MetricsFileSink(std::string path) : path_(std::move(path)) {}
  void final(const Certificate& c) override {
    if (c.outcome.kind == OutcomeKind::Alive) return;  // a --pid watch ended: no death
    if (auto st = update(death_facts(c)); !st)
      spdlog::error("--metrics: {}", escape_for_terminal(st.error().describe()));
  }

 private:
  Status update(const DeathFacts& facts) {
    // A stable lock beside FILE (FILE itself is replaced at every write): a second writer
    // waits for the read-modify-write of the first, so no count is lost.
    const std::string lock_path = path_ + ".lock";
    ScopedFd lock(::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644));
    if (!lock.is_open()) return SysError::from_errno("open " + lock_path);
    while (::flock(lock.get(), LOCK_EX) != 0)
      if (errno != EINTR) return SysError::from_errno("flock " + lock_path);
    DeathMetrics metrics;
    if (auto text = read_text_file(path_, 1 << 22)) metrics = parse_death_metrics(*text);
    add_death(metrics, facts);
    // node_exporter runs as another user: it must read it (0644).
    if (auto st = replace_file(path_, render_death_metrics(metrics), 0644); !st) return st;
    return Ok{};
  }

  std::string path_;
};

}  // namespace

std::unique_ptr<Sink> termination_log_sink(std::string path) {
  return std::make_unique<TerminationLogSink>(std::move(path));
}

std::unique_ptr<Sink> death_hook_sink(std::string command, std::string certificate_path,
                                      std::chrono::milliseconds timeout) {
  return std::make_unique<DeathHookSink>(std::move(command), std::move(certificate_path), timeout);
}

std::unique_ptr<Sink> metrics_file_sink(std::string path) {
  return std::make_unique<MetricsFileSink>(std::move(path));
}

}  // namespace deathwatch
