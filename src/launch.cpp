#include "deathwatch/launch.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

// Boost 1.81 forgets these two with BOOST_PROCESS_USE_STD_FS (std::filesystem, no Boost.Filesystem).
#include <boost/optional.hpp>
#include <boost/type_traits.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/process/v2/environment.hpp>
#include <boost/process/v2/posix/fork_and_forget_launcher.hpp>
#include <boost/process/v2/process.hpp>

#include "deathwatch/error.h"

namespace deathwatch {

namespace bp = boost::process::v2;

SignalSnapshot SignalSnapshot::capture() {
  SignalSnapshot s;
  ::sigprocmask(SIG_SETMASK, nullptr, &s.mask_);
  for (int signo = 1; signo < NSIG; ++signo) ::sigaction(signo, nullptr, &s.actions_[signo]);
  return s;
}

void SignalSnapshot::restore() const noexcept {
  for (int signo = 1; signo < NSIG; ++signo) {
    if (signo == SIGKILL || signo == SIGSTOP) continue;
    // Handlers do not survive exec anyway; only SIG_IGN versus SIG_DFL is inherited.
    struct sigaction action {};
    action.sa_handler = actions_[signo].sa_handler == SIG_IGN ? SIG_IGN : SIG_DFL;
    ::sigaction(signo, &action, nullptr);
  }
  ::sigprocmask(SIG_SETMASK, &mask_, nullptr);
}

int exec_failure_status(int err) { return err == ENOENT ? kExitNotFound : kExitCannotExecute; }

namespace {

// Boost.Process initializer that runs in the forked child, just before execve.
struct StopBeforeExec {
  const SignalSnapshot& signals;
  const char* const* argv;  // argv as the user typed it (argv[0] not replaced by the path)
  int report_fd;

  template <typename Launcher>
  bp::error_code on_exec_setup(Launcher&, const bp::filesystem::path&,
                               const char* const*& cmd_line) const {
    cmd_line = argv;
    signals.restore();
    // Wait here for the tracer: nothing of the target may run untraced.
    ::raise(SIGSTOP);
    return {};
  }

  // Boost 1.81 detects on_exec_error by a 5-argument form but calls the 4-argument one;
  // both are declared so the detection succeeds and the report is written.
  template <typename Launcher>
  void on_exec_error(Launcher&, const bp::filesystem::path&, const char* const*,
                     const bp::error_code& ec) const {
    const int err = ec.value();
    [[maybe_unused]] ssize_t n = ::write(report_fd, &err, sizeof err);
    ::_exit(exec_failure_status(err));  // never return into Boost's exit(): no atexit in a fork
  }
  template <typename Launcher>
  void on_exec_error(Launcher&, const bp::error_code&, const bp::filesystem::path&,
                     const char* const*, const bp::error_code&) const {}
};

// Descriptors deathwatch inherited without close-on-exec belong to the target (systemd's
// socket activation, a caller's pipe): they must survive Boost's close-all.
std::vector<int> inherited_descriptors() {
  std::vector<int> fds;
  DIR* dir = ::opendir("/proc/self/fd");
  if (!dir) return fds;
  const int own = ::dirfd(dir);
  while (struct dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] == '.') continue;
    const int fd = std::atoi(entry->d_name);
    if (fd == own) continue;
    const int flags = ::fcntl(fd, F_GETFD);
    if (flags >= 0 && !(flags & FD_CLOEXEC)) fds.push_back(fd);
  }
  ::closedir(dir);
  return fds;
}

std::string resolve_executable(const std::string& name) {
  if (name.find('/') != std::string::npos) {
    struct stat st {};
    if (::stat(name.c_str(), &st) != 0)
      throw FatalError(exec_failure_status(errno), name + ": " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw FatalError(kExitCannotExecute, name + ": is a directory");
    return name;
  }
  auto found = bp::environment::find_executable(name);
  if (found.empty()) throw FatalError(kExitNotFound, name + ": command not found");
  return found.string();
}

}  // namespace

LaunchedChild launch_stopped(const std::vector<std::string>& argv, const SignalSnapshot& signals) {
  if (argv.empty()) throw FatalError(kExitOwnFailure, "no command given");
  LaunchedChild child;
  child.executable = resolve_executable(argv[0]);

  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    throw FatalError(kExitOwnFailure, std::string("pipe: ") + std::strerror(errno));
  child.exec_report.reset(report[0]);
  ScopedFd report_write(report[1]);

  std::vector<const char*> raw_argv;
  for (const auto& arg : argv) raw_argv.push_back(arg.c_str());
  raw_argv.push_back(nullptr);

  boost::asio::io_context context;
  bp::posix::fork_and_forget_launcher launcher;
  for (int fd : inherited_descriptors()) launcher.fd_whitelist.push_back(fd);
  launcher.fd_whitelist.push_back(report_write.get());

  bp::error_code ec;
  StopBeforeExec init{signals, raw_argv.data(), report_write.get()};
  // fork_and_forget: Boost's default and vfork launchers wait for exec, which deadlocks with
  // a child that stops itself first.
  auto process = launcher(context.get_executor(), ec, bp::filesystem::path(child.executable),
                          std::vector<std::string>(argv.begin() + 1, argv.end()), init);
  if (ec) throw FatalError(kExitOwnFailure, "cannot start " + argv[0] + ": " + ec.message());
  child.pid = process.id();
  // Never let Boost wait on (or SIGKILL) a tracee: the tracer owns it from here.
  process.detach();

  int status = 0;
  while (::waitpid(child.pid, &status, WSTOPPED) < 0) {
    if (errno != EINTR)
      throw FatalError(kExitOwnFailure, std::string("waitpid: ") + std::strerror(errno));
  }
  if (!WIFSTOPPED(status))
    throw FatalError(kExitOwnFailure, "the child ended before it could be traced");
  return child;
}

std::optional<int> read_exec_report(int fd) {
  int err = 0;
  ssize_t n;
  do {
    n = ::read(fd, &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof err)) return err;
  return std::nullopt;
}

}  // namespace deathwatch
