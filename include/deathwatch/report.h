// The death certificate as a person reads it on stderr.
#pragma once

#include <string>
#include <string_view>

#include "deathwatch/certificate.h"

namespace deathwatch {

// Text from outside (command lines, comms, paths, notes, error messages that quote them) made
// safe for a terminal: C0 controls, DEL and the UTF-8 encoded C1 controls (U+0080..U+009F)
// are shown as \xNN, so an escape sequence in a process name cannot drive the terminal.
std::string escape_for_terminal(std::string_view text);

enum class Colour { Off, On };
std::string render_report(const Certificate& certificate, Colour colour);

}  // namespace deathwatch
