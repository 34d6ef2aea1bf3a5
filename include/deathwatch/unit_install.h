// `deathwatch install-unit UNIT` / `uninstall-unit UNIT`: wrap an existing systemd service
// in deathwatch without editing its unit file, through one drop-in
// (/etc/systemd/system/UNIT.d/90-deathwatch.conf: an empty ExecStart= then the wrapped one,
// a certificate under /var/lib/deathwatch/, and ExecStopPost= deathwatch finalize).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace deathwatch {

// One command of an Exec*= property as `systemctl show` prints it:
// "{ path=/usr/bin/x ; argv[]=/usr/bin/x -a ; flags=ignore-failure ; ... }".
struct ExecCommand {
  std::string path;
  std::vector<std::string> argv;
  std::vector<std::string> flags;  // ExecStartEx: ignore-failure, privileged, no-setuid, ambient, no-env-expand
  bool ignore_errors = false;      // ExecStart's form of "-"
};

// Every "{ ... }" of a property value (several lines of the same key are concatenated).
std::vector<ExecCommand> parse_exec_commands(std::string_view value);
// One word quoted for a unit file: "..." with \ " escaped and % doubled (specifiers).
std::string quote_unit_word(std::string_view word);
// Where the drop-in puts the certificate: /var/lib/deathwatch/UNIT.json, or inside the
// unit's own StateDirectory=deathwatch/UNIT when it runs as another user than root.
std::string certificate_path(const std::string& unit, bool own_state_directory);
// The drop-in's text. `deathwatch` is deathwatch's own path.
std::string render_drop_in(const std::string& unit, const ExecCommand& command, const std::string& deathwatch,
                           bool own_state_directory = false);

// The subcommands: `args` are the words after the subcommand. Return the exit status.
int run_install_unit(const std::vector<std::string>& args);
int run_uninstall_unit(const std::vector<std::string>& args);

}  // namespace deathwatch
