// What install-unit needs to know of a service, read from the running systemd over D-Bus.
//
// Why D-Bus and not `systemctl show`: systemctl prints ExecStart='s argv joined by spaces,
// unquoted, so `sh -c "trap '' TERM; exec sleep 1"` cannot be told from nine words. The
// bus property ExecStartEx (a(sasasttttuii)) carries each argument exactly.
#pragma once

#include <string>
#include <vector>

#include "deathwatch/error.h"
#include "deathwatch/unit_install.h"

namespace deathwatch {

struct ServiceDescription {
  std::string load_state;  // "loaded", "not-found", ...
  std::string type;        // "simple", "notify", "forking", ...
  std::string user;        // User=, empty for root
  bool dynamic_user = false;
  std::vector<ExecCommand> exec_start;
};

// Fails (with the reason) when the system bus or systemd cannot be reached.
Result<ServiceDescription> describe_service_over_bus(const std::string& unit);

}  // namespace deathwatch
