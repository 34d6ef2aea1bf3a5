#include "deathwatch/cli.h"

#include <iostream>
#include <regex>
#include <string_view>

#include <CLI/CLI.hpp>

#include "deathwatch/error.h"

namespace deathwatch {

namespace {

constexpr const char* kDescription =
    "deathwatch [OPTIONS] -- COMMAND [ARG...]   or   deathwatch [OPTIONS] --pid PID\n"
    "deathwatch finalize FILE   (ExecStopPost=: complete a certificate whose watcher died)\n"
    "deathwatch show [--json] FILE...  |  deathwatch show --summary DIR   (read certificates)\n"
    "deathwatch install-unit|uninstall-unit [--dry-run] UNIT   (wrap a systemd service)\n\n"
    "deathwatch runs COMMAND and, when it ends, writes a death certificate: how it ended\n"
    "(exit code or signal) and who sent the signal that ended it, with the sender's command\n"
    "line and ancestry. The command keeps its stdio, terminal, signals and exit status.";

constexpr const char* kExamples =
    "\nExamples:\n"
    "  deathwatch -- java -jar app.jar\n"
    "  deathwatch -o /var/log/app.death.json -- ./flaky-script.sh\n"
    "  deathwatch -q -o death.json -- sleep 300     # report only an abnormal death\n"
    "  deathwatch --pid 4242 -o death.json          # watch a running process\n"
    "\nExit status: that of COMMAND (a death by signal S is mirrored by dying of S);\n"
    "125 deathwatch failed, 126 COMMAND cannot be executed, 127 COMMAND not found.\n"
    "\nEnvironment: DEATHWATCH_NO_BPF=1 turns the eBPF backend off (ptrace is used).\n";

// The index of the `--` that ends deathwatch's own options, or 0. Only a `--` before the
// command's first word counts: one after it belongs to the command.
int command_separator(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view word(argv[i]);
    if (word == "--") return i;
    if (word.size() < 2 || word[0] != '-') return 0;  // the command's first word
    // An option whose value is the next word: skip that value, it may be anything.
    if (word == "--output" || word == "--pid" || word == "--mode" || word == "--redact" ||
        word == "--last-words" || word == "--termination-log" || word == "--on-death" ||
        word == "--metrics") {
      ++i;
      continue;
    }
    if (word[1] == '-') continue;  // --flag, or --option=value
    // A cluster of short options (-qv, -qo FILE, -oFILE): the first one that takes a value
    // takes the rest of the word, or the next word when nothing is left.
    for (std::size_t k = 1; k < word.size(); ++k) {
      if (word[k] != 'o' && word[k] != 'p') continue;
      if (k + 1 == word.size()) ++i;
      break;
    }
  }
  return 0;
}

}  // namespace

std::optional<mode_t> parse_file_mode(const std::string& text) {
  if (text.empty() || text.size() > 4) return std::nullopt;
  mode_t mode = 0;
  for (char c : text) {
    if (c < '0' || c > '7') return std::nullopt;
    mode = mode * 8 + static_cast<mode_t>(c - '0');
  }
  // Set-id and sticky bits mean nothing on a certificate: refused rather than ignored.
  if (mode > 0777) return std::nullopt;
  return mode;
}

ParsedCommandLine parse_command_line(int argc, char** argv) {
  CLI::App app{kDescription, "deathwatch"};
  app.footer(kExamples);
  Options options;
  std::string output;
  app.add_option("-o,--output", output, "write the JSON death certificate to FILE (kept "
                 "whole while COMMAND runs; signals also go to FILE.events, repeats thinned; "
                 "a device, fifo or /dev/stdout gets only the final certificate)")
      ->type_name("FILE");
  app.add_flag("-q,--quiet", options.quiet, "print the report only when COMMAND dies abnormally");
  app.add_flag("-v,--verbose", options.verbosity, "deathwatch's own diagnostics on stderr (-vv: more)");
  bool no_follow = false;
  app.add_flag("--no-follow", no_follow, "watch only COMMAND's own process, not its children");
  pid_t attach = 0;
  app.add_option("-p,--pid", attach,
                 "watch the running process PID (its threads and, unless --no-follow, its "
                 "children) until it dies; Ctrl+C ends the watch and leaves it running")
      ->type_name("PID")
      ->check(CLI::PositiveNumber);
  app.add_flag("--cgroup", options.own_cgroup,
               "run COMMAND in a memory cgroup of its own (cgroup v1, root), so OOM counters "
               "count it alone");
  std::string last_words = "abnormal";
  app.add_option("--last-words", last_words,
                 "capture where a dying process was: backtrace, fault, blocked syscall, state "
                 "at death, and a JVM's System.exit caller; for abnormal deaths (crashes, "
                 "signals, non-zero exits: the default), always, or never")
      ->type_name("WHEN")
      ->check(CLI::IsMember({"never", "abnormal", "always"}));
  std::string mode = "0640";
  app.add_option("--mode", mode,
                 "permissions of the certificate and FILE.events, in octal (default 0640; "
                 "the files belong to the user who runs deathwatch)")
      ->type_name("MODE");
  app.add_option("--redact", options.redact,
                 "mask every match of REGEX (ECMAScript syntax) in the command lines deathwatch "
                 "records: the command's, its descendants' and senders' (repeatable)")
      ->type_name("REGEX");
  app.add_flag("--kill-with-watcher", options.kill_with_watcher,
               "if deathwatch itself is killed, SIGKILL the command too (by default it runs on)");
  std::string termination_log, on_death, metrics;
  app.add_option("--termination-log", termination_log,
                 "write the one-sentence cause (at most 4096 bytes) to FILE at the end, for "
                 "Kubernetes (default: /dev/termination-log when deathwatch is PID 1 and it exists)")
      ->type_name("FILE");
  app.add_option("--on-death", on_death,
                 "once the certificate is final, run CMD with /bin/sh -c, the death in its "
                 "environment (DEATHWATCH_CERT, _PID, _COMMAND, _OUTCOME, _EXIT_CODE, _SIGNAL, "
                 "_CATEGORY, _CONFIDENCE, _SENDER_PID, _SENDER_COMM, _SUMMARY); killed after 30 s")
      ->type_name("CMD");
  app.add_option("--metrics", metrics,
                 "count the death in FILE, a Prometheus textfile for node_exporter, accumulated "
                 "across runs (deathwatch_deaths_total, deathwatch_last_death_timestamp_seconds, "
                 "deathwatch_last_exit_code)")
      ->type_name("FILE");
  app.add_flag("--journal", options.journal,
               "send the final certificate to the journal as one structured entry "
               "(automatic when $JOURNAL_STREAM names deathwatch's stderr, as under systemd)");
  app.set_version_flag("--version", std::string("deathwatch ") + DEATHWATCH_VERSION);
  // Everything from the first `--` on is the command, byte for byte: CLI11 never sees it
  // (it would read `[.a,.b]` as a list and split it). Without `--`, the first word that is
  // not an option starts the command, and the rest is passed on untouched (prefix mode).
  app.prefix_command();
  int own_argc = argc;
  if (const int separator = command_separator(argc, argv); separator > 0) {
    own_argc = separator;
    options.command.assign(argv + separator + 1, argv + argc);
  }

  try {
    app.parse(own_argc, argv);
    const auto rest = app.remaining();
    if (!rest.empty()) {
      if (own_argc != argc || rest.front().rfind('-', 0) == 0) {
        std::cerr << "deathwatch: " << (own_argc != argc ? "unexpected argument before --: "
                                                         : "unknown option: ")
                  << rest.front() << " (see deathwatch --help)\n";
        return {std::nullopt, kExitOwnFailure};
      }
      // CLI11's prefix mode keeps the words as given, in order.
      options.command.assign(rest.begin(), rest.end());
    }
  } catch (const CLI::CallForHelp& e) {
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::CallForVersion& e) {
    return {std::nullopt, app.exit(e)};
  } catch (const CLI::ParseError& e) {
    std::cerr << "deathwatch: " << e.what() << " (see deathwatch --help)\n";
    return {std::nullopt, kExitOwnFailure};
  }
  options.follow = !no_follow;
  if (auto parsed_mode = parse_file_mode(mode)) {
    options.file_mode = *parsed_mode;
  } else {
    std::cerr << "deathwatch: --mode " << mode << ": not an octal file mode such as 0640\n";
    return {std::nullopt, kExitOwnFailure};
  }
  for (const auto& pattern : options.redact) {
    try {
      std::regex check(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      std::cerr << "deathwatch: --redact " << pattern << ": not a regular expression (" << e.what() << ")\n";
      return {std::nullopt, kExitOwnFailure};
    }
  }
  if (options.kill_with_watcher && options.attach_pid) {
    std::cerr << "deathwatch: --kill-with-watcher applies to a command deathwatch starts, not to --pid\n";
    return {std::nullopt, kExitOwnFailure};
  }
  options.last_words = last_words == "never"    ? LastWordsPolicy::Never
                       : last_words == "always" ? LastWordsPolicy::Always
                                                : LastWordsPolicy::Abnormal;
  if (attach > 0) options.attach_pid = attach;
  if (options.attach_pid && !options.command.empty()) {
    std::cerr << "deathwatch: give either --pid PID or a command, not both\n";
    return {std::nullopt, kExitOwnFailure};
  }
  if (options.attach_pid && options.own_cgroup) {
    std::cerr << "deathwatch: --cgroup starts a command in a new cgroup; it cannot move an attached process\n";
    return {std::nullopt, kExitOwnFailure};
  }
  if (!options.attach_pid && options.command.empty()) {
    std::cerr << "deathwatch: no command given: deathwatch [OPTIONS] -- COMMAND [ARG...] or --pid PID\n";
    return {std::nullopt, kExitOwnFailure};
  }
  if (!output.empty()) options.output = output;
  if (!termination_log.empty()) options.termination_log = termination_log;
  if (!on_death.empty()) options.on_death = on_death;
  if (!metrics.empty()) options.metrics = metrics;
  return {options, 0};
}

}  // namespace deathwatch
