// user_name (procfs.h), remembered. A storm of signals from distinct processes asks for the
// sender's user name once per signal; NSS answers each time by opening and reading
// /etc/passwd (six syscalls), while deathwatch holds a ptrace tracee in its stop.
#include <pwd.h>

#include <chrono>
#include <mutex>
#include <unordered_map>

#include "deathwatch/procfs.h"

namespace deathwatch {

namespace {

using Clock = std::chrono::steady_clock;
// A renamed or new user is seen within this time.
constexpr auto kRemembered = std::chrono::minutes(1);
// Bounds the memory a storm from many uids can take.
constexpr std::size_t kMaxRemembered = 1024;

struct Remembered {
  std::optional<std::string> name;
  Clock::time_point looked_up;
};

// The answer: a name, or none (no such user); nullopt when NSS failed (not remembered).
std::optional<std::optional<std::string>> look_up(uid_t uid) {
  struct passwd pw {};
  struct passwd* found = nullptr;
  char buf[4096];
  if (::getpwuid_r(uid, &pw, buf, sizeof buf, &found) != 0) return std::nullopt;
  if (found == nullptr) return std::optional<std::string>{};
  return std::optional<std::string>(found->pw_name);
}

}  // namespace

std::optional<std::string> user_name(uid_t uid) {
  static std::mutex mutex;
  static std::unordered_map<uid_t, Remembered> names;
  const auto now = Clock::now();
  std::lock_guard lock(mutex);
  if (auto it = names.find(uid); it != names.end() && now - it->second.looked_up < kRemembered)
    return it->second.name;
  auto answer = look_up(uid);
  if (!answer) return std::nullopt;  // a passing failure (a directory service timed out)
  if (names.size() >= kMaxRemembered) names.clear();
  names[uid] = Remembered{*answer, now};
  return *answer;
}

}  // namespace deathwatch
