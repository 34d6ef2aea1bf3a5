#include "deathwatch/launch.h"
#include "deathwatch/privileges.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
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
//
// The child waits for one byte on the release pipe before it execs, so that deathwatch can
// choose and attach its backend first: nothing of the target runs unwatched. Waiting on a
// pipe rather than stopping itself means a deathwatch killed at that moment (SIGKILL, the
// OOM killer) leaves nothing behind: the pipe's write end closes with it, the read returns
// EOF and the child leaves without running the command. PR_SET_PDEATHSIG is the second
// guard, should the write end ever outlive deathwatch. Nor is the child ever stopped and
// continued, so the target never finds a SIGCONT of deathwatch's pending.
struct WaitThenExec {
  const SignalSnapshot& signals;
  const char* const* argv;     // argv as the user typed it (argv[0] not replaced by the path)
  const char* const* sh_argv;  // {"/bin/sh", path, args...}: execvp's answer to ENOEXEC
  int report_fd;
  int release_read;
  int release_write;
  pid_t parent;
  LaunchOptions options;
  int ready_write;  // drop_capabilities: one byte once the child is dumpable, else -1

  template <typename Launcher>
  bp::error_code on_exec_setup(Launcher&, const bp::filesystem::path&,
                               const char* const*& cmd_line) const {
    cmd_line = argv;
    if (options.drop_capabilities) {
      // The command runs with the caller's credentials, never with deathwatch's capabilities.
      // Dropped first, so that the child may then be made dumpable again: a process started
      // with file capabilities is not, and its unprivileged tracer (deathwatch, once it has
      // dropped its own) could not ptrace it.
      if (!drop_capabilities_in_child()) ::_exit(kExitOwnFailure);
      ::prctl(PR_SET_DUMPABLE, 1);
      const char ready = 1;
      [[maybe_unused]] ssize_t n = ::write(ready_write, &ready, 1);
      ::close(ready_write);
    }
    ::close(release_write);  // else the child holds its own pipe open and never sees EOF
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(kExitOwnFailure);  // deathwatch already gone
    char go = 0;
    ssize_t n;
    do {
      n = ::read(release_read, &go, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) ::_exit(kExitOwnFailure);  // deathwatch died before releasing us
    // The command must not die with deathwatch, unless asked: that would change how it lives.
    if (!options.die_with_watcher) ::prctl(PR_SET_PDEATHSIG, 0);
    signals.restore();
    return {};
  }

  // Boost 1.81 detects on_exec_error by a 5-argument form but calls the 4-argument one;
  // both are declared so the detection succeeds and the report is written.
  template <typename Launcher>
  void on_exec_error(Launcher&, const bp::filesystem::path&, const char* const*,
                     const bp::error_code& ec) const {
    int err = ec.value();
    if (err == ENOEXEC) {
      // A script without a shebang: run it with /bin/sh, as execvp, env and shells do.
      ::execve(sh_argv[0], const_cast<char* const*>(sh_argv), ::environ);
      err = errno;
    }
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

LaunchedChild launch_waiting(const std::vector<std::string>& argv, const SignalSnapshot& signals,
                             const LaunchOptions& options) {
  if (argv.empty()) throw FatalError(kExitOwnFailure, "no command given");
  LaunchedChild child;
  child.executable = resolve_executable(argv[0]);

  int report[2];
  if (::pipe2(report, O_CLOEXEC) != 0)
    throw FatalError(kExitOwnFailure, std::string("pipe: ") + std::strerror(errno));
  child.exec_report.reset(report[0]);
  ScopedFd report_write(report[1]);
  int release[2];
  if (::pipe2(release, O_CLOEXEC) != 0)
    throw FatalError(kExitOwnFailure, std::string("pipe: ") + std::strerror(errno));
  ScopedFd release_read(release[0]);
  child.release.reset(release[1]);

  std::vector<const char*> raw_argv;
  for (const auto& arg : argv) raw_argv.push_back(arg.c_str());
  raw_argv.push_back(nullptr);
  std::vector<const char*> sh_argv{"/bin/sh", child.executable.c_str()};
  for (std::size_t i = 1; i < argv.size(); ++i) sh_argv.push_back(argv[i].c_str());
  sh_argv.push_back(nullptr);

  // Under file capabilities the child becomes traceable only once it has dropped them: the
  // backend may not seize it before then.
  ScopedFd ready_read, ready_write;
  if (options.drop_capabilities) {
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0)
      throw FatalError(kExitOwnFailure, std::string("pipe: ") + std::strerror(errno));
    ready_read.reset(ready[0]);
    ready_write.reset(ready[1]);
  }

  boost::asio::io_context context;
  bp::posix::fork_and_forget_launcher launcher;
  for (int fd : inherited_descriptors()) launcher.fd_whitelist.push_back(fd);
  launcher.fd_whitelist.push_back(report_write.get());
  if (ready_write.is_open()) launcher.fd_whitelist.push_back(ready_write.get());

  bp::error_code ec;
  WaitThenExec init{signals,           raw_argv.data(),     sh_argv.data(), report_write.get(),
                    release_read.get(), child.release.get(), ::getpid(), options, ready_write.get()};
  // fork_and_forget: Boost's default and vfork launchers wait for exec, which would
  // deadlock with a child that waits to be released first.
  auto process = launcher(context.get_executor(), ec, bp::filesystem::path(child.executable),
                          std::vector<std::string>(argv.begin() + 1, argv.end()), init);
  if (ec) throw FatalError(kExitOwnFailure, "cannot start " + argv[0] + ": " + ec.message());
  child.pid = process.id();
  // Never let Boost wait on (or SIGKILL) a tracee: the tracer owns it from here.
  process.detach();
  if (ready_read.is_open()) {
    ready_write.reset();  // EOF, rather than a wait forever, should the child die first
    char ready = 0;
    ssize_t n;
    do {
      n = ::read(ready_read.get(), &ready, 1);
    } while (n < 0 && errno == EINTR);
  }
  return child;
}

Status release_child(LaunchedChild& child) {
  const char go = 1;
  ssize_t n;
  do {
    n = ::write(child.release.get(), &go, 1);
  } while (n < 0 && errno == EINTR);
  const int err = errno;
  child.release.reset();
  if (n != 1) return SysError{"release child " + std::to_string(child.pid), err};
  return Ok{};
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

std::optional<std::string> privilege_loss_warning(const std::string& exe) {
  if (::geteuid() == 0) return std::nullopt;
  struct stat st {};
  if (::stat(exe.c_str(), &st) != 0) return std::nullopt;
  const bool setid = (st.st_mode & S_ISUID) || (st.st_mode & S_ISGID);
  const bool caps = ::getxattr(exe.c_str(), "security.capability", nullptr, 0) > 0;
  if (!setid && !caps) return std::nullopt;
  return exe + " is " + (setid ? "set-uid/set-gid" : "given file capabilities") +
         ": traced by an unprivileged deathwatch it runs WITHOUT those privileges";
}

}  // namespace deathwatch
