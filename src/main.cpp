// deathwatch: run a command, and say how it died and who killed it.
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
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signo);
  ::sigprocmask(SIG_UNBLOCK, &only, nullptr);
  ::raise(signo);
  std::_Exit(fallback_status);
}

}  // namespace

int main(int argc, char** argv) {
  // First, before anything changes it: the signal state the target must inherit.
  const auto original_signals = deathwatch::SignalSnapshot::capture();
  auto parsed = deathwatch::parse_command_line(argc, argv);
  if (!parsed.options) return parsed.exit_status;
  const deathwatch::Options& options = *parsed.options;
  set_up_logging(options.verbosity);

  try {
    deathwatch::Supervisor supervisor(options, original_signals);
    const int status = supervisor.run();
    const auto& certificate = supervisor.certificate();
    if (supervisor.exec_failed()) {
      std::cerr << "deathwatch: " << deathwatch::escape_for_terminal(certificate.watcher.warnings.back()) << "\n";
      return status;
    }
    if (!options.quiet || !certificate.outcome.is_normal()) {
      const auto colour = ::isatty(STDERR_FILENO) ? deathwatch::Colour::On : deathwatch::Colour::Off;
      std::cerr << deathwatch::render_report(certificate, colour) << std::flush;
    }
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
