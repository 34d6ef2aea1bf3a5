// deathwatch: run a command, and say how it died and who killed it.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/sinks/base_sink.h>
#include <spdlog/spdlog.h>

#include "deathwatch/cli.h"
#include "deathwatch/error.h"
#include "deathwatch/finalize.h"
#include "deathwatch/launch.h"
#include "deathwatch/own_signals.h"
#include "deathwatch/privileges.h"
#include "deathwatch/report.h"
#include "deathwatch/show.h"
#include "deathwatch/unit_install.h"
#include "deathwatch/stderr_writer.h"
#include "deathwatch/supervisor.h"

namespace {

// spdlog's lines through the non-blocking stderr writer, the level coloured on a terminal.
class StderrLogSink : public spdlog::sinks::base_sink<std::mutex> {
 public:
  explicit StderrLogSink(bool colour) : colour_(colour) {}

 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    spdlog::memory_buf_t formatted;
    formatter_->format(msg, formatted);
    std::string_view text(formatted.data(), formatted.size());
    if (!colour_ || msg.color_range_end <= msg.color_range_start || msg.color_range_end > text.size()) {
      deathwatch::stderr_writer().write(text);
      return;
    }
    const char* code = msg.level >= spdlog::level::err ? "\033[1;31m"
                       : msg.level == spdlog::level::warn ? "\033[1;33m"
                                                          : "\033[36m";
    std::string coloured(text.substr(0, msg.color_range_start));
    coloured += code;
    coloured += text.substr(msg.color_range_start, msg.color_range_end - msg.color_range_start);
    coloured += "\033[0m";
    coloured += text.substr(msg.color_range_end);
    deathwatch::stderr_writer().write(coloured);
  }
  void flush_() override {}

 private:
  bool colour_;
};

void set_up_logging(int verbosity) {
  // Diagnostics go to stderr only: the target owns stdout.
  auto logger = std::make_shared<spdlog::logger>(
      "deathwatch", std::make_shared<StderrLogSink>(::isatty(STDERR_FILENO) && !std::getenv("NO_COLOR")));
  logger->set_pattern("deathwatch: %^%l%$: %v");
  logger->set_level(verbosity >= 2 ? spdlog::level::trace
                    : verbosity == 1 ? spdlog::level::debug
                                     : spdlog::level::warn);
  spdlog::register_logger(logger);
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
  auto privileges = deathwatch::Privileges::at_start();
  const auto original_signals = deathwatch::SignalSnapshot::capture();
  const bool stderr_open = hold_closed_standard_streams();
  // Subcommands, as the first word only: `deathwatch -- finalize` still runs a program of
  // that name. They need no capability: dropped before they read a file.
  if (argc >= 2) {
    const std::string_view word(argv[1]);
    using Subcommand = int (*)(const std::vector<std::string>&);
    Subcommand run = word == "finalize"         ? &deathwatch::run_finalize
                     : word == "show"           ? &deathwatch::run_show
                     : word == "install-unit"   ? &deathwatch::run_install_unit
                     : word == "uninstall-unit" ? &deathwatch::run_uninstall_unit
                                                : nullptr;
    if (run) {
      if (auto dropped = privileges.drop_all(); !dropped) {
        std::cerr << "deathwatch: " << dropped.error().describe() << "\n";
        return deathwatch::kExitOwnFailure;
      }
      try {
        return run(std::vector<std::string>(argv + 2, argv + argc));
      } catch (const std::exception& e) {  // a damaged file must end in one line, not an abort
        std::cerr << "deathwatch " << word << ": " << deathwatch::escape_for_terminal(e.what()) << "\n";
        return deathwatch::kExitOwnFailure;
      }
    }
  }
  auto parsed = deathwatch::parse_command_line(argc, argv);
  if (!parsed.options) return parsed.exit_status;
  const deathwatch::Options& options = *parsed.options;
  set_up_logging(options.verbosity);

  try {
    const auto colour = ::isatty(STDERR_FILENO) && !std::getenv("NO_COLOR") ? deathwatch::Colour::On : deathwatch::Colour::Off;
    deathwatch::Supervisor supervisor(options, original_signals, {options.quiet, stderr_open, colour}, privileges);
    const int status = supervisor.run();
    if (auto signo = supervisor.death_signal()) die_like_target(*signo, status);
    return status;
  } catch (const deathwatch::FatalError& e) {
    deathwatch::stderr_writer().write("deathwatch: " + deathwatch::escape_for_terminal(e.what()) + "\n",
                                      deathwatch::StderrWriter::kPatience);
    return e.exit_status();
  } catch (const std::exception& e) {
    deathwatch::stderr_writer().write(std::string("deathwatch: internal error: ") + e.what() + "\n",
                                      deathwatch::StderrWriter::kPatience);
    return deathwatch::kExitOwnFailure;
  }
}
