// deathwatch: run a command, and say how it died and who killed it.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "deathwatch/cli.h"
#include "deathwatch/error.h"
#include "deathwatch/launch.h"
#include "deathwatch/own_signals.h"
#include "deathwatch/privileges.h"
#include "deathwatch/report.h"
#include "deathwatch/supervisor.h"

namespace {

void set_up_logging(int verbosity) {
  // Diagnostics go to stderr only: the target owns stdout.
  auto logger = spdlog::stderr_color_mt("deathwatch");
  logger->set_pattern("deathwatch: %^%l%$: %v");
  logger->set_level(verbosity >= 2 ? spdlog::level::trace
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::warn);
  spdlog::set_default_logger(logger);
}

// Ends deathwatch the way the target ended, so a shell sees 128+S and systemd
// "code=killed, status=S". Core dumps are for the target, not for deathwatch.
[[noreturn]] void die_like_target(int signo, int fallback_status) {
  struct rlimit no_core {0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  struct sigaction action {};
  action.sa_handler = SIG_DFL;
  ::sigaction(signo, &action, nullptr);
  deathwatch::raise_unblocked(signo);  // glibc's 32 and 33 included
  std::_Exit(fallback_status);
}

// A standard stream deathwatch was started without must stay closed for the command, but
// deathwatch's own descriptors (signalfd, event log) must not take its number: a report
// written to "stderr" would land in the event log. A close-on-exec /dev/null holds each
// closed number until exec. Returns whether stderr was open.
bool hold_closed_standard_streams() {
  bool stderr_open = true;
  for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; ++fd) {
    if (::fcntl(fd, F_GETFD) != -1 || errno != EBADF) continue;
    if (fd == STDERR_FILENO) stderr_open = false;
    const int holder = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (holder > fd) {  // cannot happen while the lower numbers are held: kept for safety
      ::dup3(holder, fd, O_CLOEXEC);
      ::close(holder);
    }
  }
  return stderr_open;
}

}  // namespace

int main(int argc, char** argv) {
  // First, before anything uses them: the caller's environment and deathwatch's capabilities
  // sorted out, then the signal state the target must inherit.
  const auto privileges = deathwatch::Privileges::at_start();
  const auto original_signals = deathwatch::SignalSnapshot::capture();
  const bool stderr_open = hold_closed_standard_streams();
  auto parsed = deathwatch::parse_command_line(argc, argv);
  if (!parsed.options) return parsed.exit_status;
  const deathwatch::Options& options = *parsed.options;
  set_up_logging(options.verbosity);

  try {
    const auto colour = ::isatty(STDERR_FILENO) ? deathwatch::Colour::On : deathwatch::Colour::Off;
    deathwatch::Supervisor supervisor(options, original_signals, {options.quiet, stderr_open, colour}, privileges);
    const int status = supervisor.run();
    if (auto signo = supervisor.death_signal()) die_like_target(*signo, status);
    return status;
  } catch (const deathwatch::FatalError& e) {
    std::cerr << "deathwatch: " << deathwatch::escape_for_terminal(e.what()) << "\n";
    return e.exit_status();
  } catch (const std::exception& e) {
    std::cerr << "deathwatch: internal error: " << e.what() << "\n";
    return deathwatch::kExitOwnFailure;
  }
}
