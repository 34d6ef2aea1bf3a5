#include "deathwatch/unit_install.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>

#include "deathwatch/error.h"
#include "deathwatch/procfs.h"
#include "deathwatch/report.h"
#include "deathwatch/systemd_bus.h"

extern char** environ;

namespace deathwatch {

namespace fs = std::filesystem;

namespace {

constexpr const char* kDropInName = "90-deathwatch.conf";
constexpr const char* kHeader = "# Written by deathwatch install-unit";

std::vector<std::string> split_words(std::string_view text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && text[i] == ' ') ++i;
    const std::size_t start = i;
    while (i < text.size() && text[i] != ' ') ++i;
    if (i > start) out.emplace_back(text.substr(start, i - start));
  }
  return out;
}

// Runs `argv` and returns its standard output, or nullopt if it could not run or failed.
std::optional<std::string> capture(const std::vector<std::string>& argv) {
  int pipefd[2];
  if (::pipe2(pipefd, O_CLOEXEC) != 0) return std::nullopt;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, pipefd[1], STDOUT_FILENO);
  std::vector<char*> raw;
  for (const auto& a : argv) raw.push_back(const_cast<char*>(a.c_str()));
  raw.push_back(nullptr);
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, raw[0], &actions, nullptr, raw.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(pipefd[1]);
  std::string out;
  if (err == 0) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(pipefd[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
      if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(pipefd[0]);
  if (err != 0) return std::nullopt;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return std::nullopt;
  return out;
}

int fail(const std::string& message) {
  std::cerr << "deathwatch: " << escape_for_terminal(message) << "\n";
  return kExitOwnFailure;
}

struct UnitArgs {
  std::string unit;
  std::string root;  // --root DIR: a scratch root (no daemon-reload there)
  bool dry_run = false;
};

std::optional<UnitArgs> parse_unit_args(const std::vector<std::string>& args, const char* name) {
  UnitArgs u;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--dry-run") u.dry_run = true;
    else if (args[i] == "--root" && i + 1 < args.size()) u.root = args[++i];
    else if (!args[i].empty() && args[i][0] != '-' && u.unit.empty()) u.unit = args[i];
    else {
      std::cerr << "deathwatch: usage: deathwatch " << name << " [--dry-run] [--root DIR] UNIT\n";
      return std::nullopt;
    }
  }
  if (u.unit.empty() || u.unit.find('/') != std::string::npos) {
    std::cerr << "deathwatch: usage: deathwatch " << name << " [--dry-run] [--root DIR] UNIT\n";
    return std::nullopt;
  }
  if (u.unit.find('.') == std::string::npos) u.unit += ".service";
  return u;
}

fs::path drop_in_dir(const UnitArgs& u) { return fs::path(u.root.empty() ? "/" : u.root) / "etc/systemd/system" / (u.unit + ".d"); }

void daemon_reload(const UnitArgs& u) {
  if (!u.root.empty()) return;  // a scratch root has no manager to tell
  if (!path_exists("/run/systemd/system")) {
    std::cerr << "deathwatch: systemd is not running here: run `systemctl daemon-reload` where it does\n";
    return;
  }
  if (!capture({"systemctl", "daemon-reload"})) std::cerr << "deathwatch: systemctl daemon-reload failed\n";
}

}  // namespace

std::vector<ExecCommand> parse_exec_commands(std::string_view value) {
  std::vector<ExecCommand> out;
  std::size_t pos = 0;
  while ((pos = value.find('{', pos)) != std::string_view::npos) {
    const auto end = value.find('}', pos);
    if (end == std::string_view::npos) break;
    ExecCommand cmd;
    std::string_view body = value.substr(pos + 1, end - pos - 1);
    pos = end + 1;
    // " path=... ; argv[]=... ; ignore_errors=no ; ..." (fields separated by " ; ")
    while (!body.empty()) {
      const auto sep = body.find(" ; ");
      std::string_view field = body.substr(0, sep);
      body.remove_prefix(sep == std::string_view::npos ? body.size() : sep + 3);
      while (!field.empty() && field.front() == ' ') field.remove_prefix(1);
      while (!field.empty() && field.back() == ' ') field.remove_suffix(1);
      const auto eq = field.find('=');
      if (eq == std::string_view::npos) continue;
      const std::string_view key = field.substr(0, eq), val = field.substr(eq + 1);
      if (key == "path") cmd.path = std::string(val);
      else if (key == "argv[]") cmd.argv = std::vector<std::string>{std::string(val)};  // split below
      else if (key == "flags") {
        for (std::size_t i = 0; i <= val.size();) {
          const auto comma = std::min(val.find(',', i), val.size());
          if (comma > i) cmd.flags.emplace_back(val.substr(i, comma - i));
          i = comma + 1;
        }
      } else if (key == "ignore_errors") cmd.ignore_errors = val == "yes";
    }
    // systemctl prints argv[] joined by spaces, unquoted: argv[0] is recognised as the path
    // (which may hold spaces); the other words are split at spaces.
    if (!cmd.argv.empty()) {
      const std::string raw = cmd.argv.front();
      cmd.argv.clear();
      if (raw == cmd.path || raw.rfind(cmd.path + " ", 0) == 0) {
        cmd.argv.push_back(cmd.path);
        for (auto& w : split_words(std::string_view(raw).substr(cmd.path.size()))) cmd.argv.push_back(std::move(w));
      } else {
        cmd.argv = split_words(raw);
      }
    }
    if (!cmd.path.empty()) out.push_back(std::move(cmd));
  }
  return out;
}

std::string quote_unit_word(std::string_view word) {
  std::string out = "\"";
  for (char c : word) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '%') out += '%';
    out += c;
  }
  return out + "\"";
}

std::string certificate_path(const std::string& unit, bool own_state_directory) {
  return own_state_directory ? "/var/lib/deathwatch/" + unit + "/" + unit + ".json" : "/var/lib/deathwatch/" + unit + ".json";
}

std::string render_drop_in(const std::string& unit, const ExecCommand& command, const std::string& deathwatch,
                           bool own_state_directory) {
  std::string prefix;
  for (const auto& f : command.flags) {
    if (f == "ignore-failure") prefix += "-";
    else if (f == "privileged") prefix += "+";
    else if (f == "no-setuid") prefix += "!";
    else if (f == "ambient") prefix += "!!";
    else if (f == "no-env-expand") prefix += ":";
  }
  if (command.flags.empty() && command.ignore_errors) prefix = "-";
  const std::string certificate = certificate_path(unit, own_state_directory);
  std::string line = prefix + quote_unit_word(deathwatch) + " -o " + quote_unit_word(certificate) + " -- " +
                     quote_unit_word(command.path);
  for (std::size_t i = 1; i < command.argv.size(); ++i) line += " " + quote_unit_word(command.argv[i]);
  // A service with User= or DynamicUser= runs deathwatch as that user, who cannot write in
  // root's /var/lib/deathwatch: systemd makes it a directory of its own there.
  const std::string state = own_state_directory ? "StateDirectory=" + quote_unit_word("deathwatch/" + unit) + "\n" : "";
  return std::string(kHeader) + ": the service runs under deathwatch.\n"
         "# Remove with: deathwatch uninstall-unit " + unit + "\n"
         "[Service]\n" + state +
         "ExecStart=\n"
         "ExecStart=" + line + "\n"
         "ExecStopPost=" + quote_unit_word(deathwatch) + " finalize " + quote_unit_word(certificate) + "\n";
}

namespace {

// From `systemctl show`: a fallback where the system bus cannot be reached (or --root).
// Its argv[] is unquoted, so an argument holding a space would be split: said on stderr.
std::optional<ServiceDescription> describe_service_with_systemctl(const std::string& unit) {
  const auto shown = capture({"systemctl", "show", unit, "-p", "LoadState", "-p", "Type", "-p", "User", "-p",
                              "DynamicUser", "-p", "ExecStartEx", "-p", "ExecStart"});
  if (!shown) return std::nullopt;
  ServiceDescription d;
  std::string ex_value, plain_value;
  for (auto line : split_lines(*shown)) {
    if (line.rfind("Type=", 0) == 0) d.type = std::string(line.substr(5));
    else if (line.rfind("LoadState=", 0) == 0) d.load_state = std::string(line.substr(10));
    else if (line.rfind("User=", 0) == 0) d.user = std::string(line.substr(5));
    else if (line.rfind("DynamicUser=", 0) == 0) d.dynamic_user = line.substr(12) == "yes";
    else if (line.rfind("ExecStartEx=", 0) == 0) ex_value += std::string(line.substr(12)) + "\n";
    else if (line.rfind("ExecStart=", 0) == 0) plain_value += std::string(line.substr(10)) + "\n";
  }
  d.exec_start = parse_exec_commands(ex_value.empty() ? plain_value : ex_value);
  return d;
}

}  // namespace

int run_install_unit(const std::vector<std::string>& args) {
  const auto u = parse_unit_args(args, "install-unit");
  if (!u) return kExitOwnFailure;
  std::optional<ServiceDescription> described;
  if (u->root.empty()) {
    auto over_bus = describe_service_over_bus(u->unit);
    if (over_bus) described = std::move(*over_bus);
    else
      std::cerr << "deathwatch: install-unit: " << escape_for_terminal(over_bus.error().describe())
                << "; reading `systemctl show`, which does not quote arguments: check ExecStart= in the drop-in\n";
  }
  if (!described) described = describe_service_with_systemctl(u->unit);
  if (!described) return fail("install-unit: `systemctl show " + u->unit + "` failed");
  const std::string& type = described->type;
  if (described->load_state == "not-found") return fail("install-unit: no unit " + u->unit);
  const auto& commands = described->exec_start;
  if (type == "forking")
    return fail("install-unit: " + u->unit + " is Type=forking: its main process leaves at once, deathwatch would "
                "watch only the launcher; not wrapped");
  if (commands.size() != 1)
    return fail("install-unit: " + u->unit + " has " + std::to_string(commands.size()) +
                " ExecStart= commands; only a single one can be wrapped safely");
  const ExecCommand& cmd = commands.front();
  const std::string self = read_link("/proc/self/exe").value_or("/usr/bin/deathwatch");
  const fs::path file = drop_in_dir(*u) / kDropInName;
  if (fs::path(cmd.path).filename() == "deathwatch") {
    std::cerr << "deathwatch: " << u->unit << " already runs under deathwatch (" << file.string() << "): nothing changed\n";
    return 0;
  }
  if (cmd.argv.empty() || cmd.argv.front() != cmd.path)
    return fail("install-unit: " + u->unit + "'s ExecStart= gives argv[0] other than the path (the @ prefix): not wrapped");
  const bool own_state_directory = described->dynamic_user || (!described->user.empty() && described->user != "root");
  const std::string text = render_drop_in(u->unit, cmd, self, own_state_directory);
  if (u->dry_run) {
    std::cout << "# " << file.string() << "\n" << text;
    return 0;
  }
  if (auto existing = read_text_file(file.string()); existing && *existing == text) {
    std::cerr << "deathwatch: " << file.string() << " is already in place: nothing changed\n";
    return 0;
  }
  std::error_code ec;
  fs::create_directories(drop_in_dir(*u), ec);
  fs::create_directories(fs::path(u->root.empty() ? "/" : u->root) / "var/lib/deathwatch", ec);
  const std::string temp = file.string() + ".tmp";
  {
    FILE* f = std::fopen(temp.c_str(), "we");
    if (f == nullptr || std::fwrite(text.data(), 1, text.size(), f) != text.size() || std::fclose(f) != 0)
      return fail("install-unit: cannot write " + temp + ": " + std::strerror(errno));
  }
  ::chmod(temp.c_str(), 0644);
  if (::rename(temp.c_str(), file.c_str()) != 0)
    return fail("install-unit: cannot write " + file.string() + ": " + std::strerror(errno));
  std::cerr << "deathwatch: wrote " << file.string() << "\n";
  daemon_reload(*u);
  return 0;
}

int run_uninstall_unit(const std::vector<std::string>& args) {
  const auto u = parse_unit_args(args, "uninstall-unit");
  if (!u) return kExitOwnFailure;
  const fs::path dir = drop_in_dir(*u);
  const fs::path file = dir / kDropInName;
  auto text = read_text_file(file.string());
  if (!text) {
    std::cerr << "deathwatch: " << u->unit << " has no deathwatch drop-in: nothing to remove\n";
    return 0;
  }
  if (text->rfind(kHeader, 0) != 0) return fail("uninstall-unit: " + file.string() + " was not written by deathwatch: left alone");
  if (u->dry_run) {
    std::cout << "would remove " << file.string() << "\n";
    return 0;
  }
  if (::unlink(file.c_str()) != 0) return fail("uninstall-unit: cannot remove " + file.string() + ": " + std::strerror(errno));
  std::error_code ec;
  if (fs::is_empty(dir, ec)) fs::remove(dir, ec);  // only if nothing else is in it
  std::cerr << "deathwatch: removed " << file.string() << "\n";
  daemon_reload(*u);
  return 0;
}

}  // namespace deathwatch
