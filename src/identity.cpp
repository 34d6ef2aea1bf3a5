#include "deathwatch/identity.h"

namespace deathwatch {

std::string Sender::ancestry_line() const {
  std::string line;
  auto append = [&line](const std::string& comm, pid_t pid) {
    if (!line.empty()) line += " <- ";
    line += comm + "(" + std::to_string(pid) + ")";
  };
  if (pid) append(comm.value_or("?"), *pid);
  for (const auto& ancestor : ancestry) append(ancestor.comm, ancestor.pid);
  return line;
}

std::string Sender::short_description() const {
  std::string text = comm.value_or("unknown process");
  text += " (";
  text += pid ? "pid " + std::to_string(*pid) : std::string("pid unknown");
  if (uid) {
    text += ", uid " + std::to_string(*uid);
    if (user) text += " " + *user;
  }
  text += ")";
  return text;
}

}  // namespace deathwatch
