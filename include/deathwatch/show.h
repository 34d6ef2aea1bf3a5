// `deathwatch show FILE...`: certificates rendered for a person (the cause first, then the
// sender and its ancestry, the signal timeline, the deaths in the tree, last words,
// resources), or re-emitted as normalised JSON (--json); `show --summary DIR`: one line per
// certificate, newest first. It reads certificates only through their JSON.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deathwatch/report.h"

namespace deathwatch {

// Whether the watcher that wrote a "running" certificate is still alive (pid alive, and
// deathwatch). Used by show to call a certificate stale.
bool watcher_alive(const nlohmann::json& certificate);

// Pure: the rendering of one certificate. `watcher_gone`: a running certificate is stale.
std::string render_certificate(const nlohmann::json& certificate, Colour colour, bool watcher_gone);
// Pure: "2026-12-02T14:07:02Z  sleep 30  SIGTERM from sh (pid 25706)".
std::string summary_line(const nlohmann::json& certificate, bool watcher_gone);

// The subcommand: `args` are the words after "show". Returns the exit status.
int run_show(const std::vector<std::string>& args);

}  // namespace deathwatch
