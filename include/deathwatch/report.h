// The death certificate as a person reads it on stderr.
#pragma once

#include <string>

#include "deathwatch/certificate.h"

namespace deathwatch {

enum class Colour { Off, On };
std::string render_report(const Certificate& certificate, Colour colour);

}  // namespace deathwatch
