// The recorder's keeper of last words: scenes captured while processes die wait here for
// their process's end, when --last-words decides whether they are kept and the reader turns
// them into LastWords. The JVM agent's Java stack joins the native scene of the same pid.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <unordered_map>

#include "deathwatch/certificate.h"
#include "deathwatch/last_words_reader.h"
#include "deathwatch/observation.h"

namespace deathwatch {

inline constexpr std::size_t kDescendantBacktraces = 32;

class DeathScenes {
 public:
  void configure(LastWordsReader* reader, LastWordsPolicy policy) {
    reader_ = reader;
    policy_ = policy;
  }
  LastWordsPolicy policy() const { return policy_; }

  // Keeps the first initiator's scene; a stand-in only until an initiator's (or a newer
  // stand-in) arrives.
  void add(DeathCaptured captured);
  // `pid` exec'd: a scene held for it belongs to the program it was (threads a multi-threaded
  // exec took down), not to the one that will die.
  void forget(pid_t pid);
  // What the JVM agent reported for `pid` (or why it could not).
  void set_java(pid_t pid, std::optional<JavaLastWords> java, std::optional<std::string> note);
  // The last words of `pid`, which ended with `outcome`, if the policy keeps them. Consumes
  // what was held for it. The watched process always gets its backtrace; descendants, the
  // first kDescendantBacktraces of them (a script whose greps fail by the thousand must not
  // make deathwatch spend seconds in libdw).
  std::optional<LastWords> take(pid_t pid, const Outcome& outcome, bool watched_process);

 private:
  struct Java {
    std::optional<JavaLastWords> stack;
    std::optional<std::string> note;
  };
  LastWordsReader* reader_ = nullptr;
  std::size_t descendant_backtraces_ = 0;
  LastWordsPolicy policy_ = LastWordsPolicy::Never;
  std::unordered_map<pid_t, DeathCaptured> scenes_;
  std::unordered_map<pid_t, Java> java_;
};

// The cause, told with the last words: "exited by itself with code 4: exit() called from
// fail_here (prog.c:12)", "System.exit(4) called from SelfKill.main(SelfKill.java:5)",
// "crashed: SIGSEGV ... in null_deref (prog.c:9)".
void tell_cause_with_last_words(Cause& cause, const Outcome& outcome, const LastWords& last_words);

}  // namespace deathwatch
