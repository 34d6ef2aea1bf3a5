#include "deathwatch/death_scenes.h"

#include <signal.h>

namespace deathwatch {

void DeathScenes::add(DeathCaptured captured) {
  if (policy_ == LastWordsPolicy::Never) return;
  auto it = scenes_.find(captured.scene.pid);
  if (it == scenes_.end()) {
    const pid_t pid = captured.scene.pid;
    scenes_.emplace(pid, std::move(captured));
  } else if (captured.initiator || !it->second.initiator) {
    // An initiator over a stand-in; a newer stand-in over an older one. The first initiator
    // stays: a later one is a thread of a process already dying.
    if (!it->second.initiator) it->second = std::move(captured);
  }
}

void DeathScenes::forget(pid_t pid) { scenes_.erase(pid); }

void DeathScenes::set_java(pid_t pid, std::optional<JavaLastWords> java, std::optional<std::string> note) {
  java_[pid] = Java{std::move(java), std::move(note)};
}

std::optional<LastWords> DeathScenes::take(pid_t pid, const Outcome& outcome, bool watched_process) {
  std::optional<DeathCaptured> scene;
  if (auto it = scenes_.find(pid); it != scenes_.end()) {
    scene = std::move(it->second);
    scenes_.erase(it);
  }
  std::optional<Java> java;
  if (auto it = java_.find(pid); it != java_.end()) {
    java = std::move(it->second);
    java_.erase(it);
  }
  const bool wanted = policy_ == LastWordsPolicy::Always ||
                      (policy_ == LastWordsPolicy::Abnormal && !outcome.is_normal());
  if (!wanted || (!scene && !java)) return std::nullopt;
  LastWords lw;
  const bool unwind = watched_process || descendant_backtraces_ < kDescendantBacktraces;
  if (scene && reader_) {
    lw = reader_->read(scene->scene, outcome, unwind);
    if (!watched_process && unwind) ++descendant_backtraces_;
  }
  auto add_note = [&lw](const std::string& n) { lw.note = lw.note ? *lw.note + "; " + n : n; };
  if (scene && !unwind)
    add_note("backtrace not unwound: only the first " + std::to_string(kDescendantBacktraces) +
             " abnormal descendants get one");
  if (!scene) add_note("no native capture at the moment of death");
  if (java) {
    lw.java = std::move(java->stack);
    if (java->note) add_note(*java->note);
    if (lw.captured_by.empty()) lw.captured_by = "jvm agent";
  }
  return lw;
}

void tell_cause_with_last_words(Cause& cause, const Outcome& outcome, const LastWords& lw) {
  if (lw.java && !lw.java->reason.empty()) {
    // The JVM's exit code came from System.exit: its caller is the cause. Otherwise (a
    // signal's handler thread, main returning) the verdict stands and the JVM's side is
    // evidence.
    if (cause.category == CauseCategory::Exit && lw.java->how == JavaLastWords::Shutdown::ExitCall) {
      cause.evidence.push_back(cause.summary);
      cause.summary = lw.java->reason;
    } else {
      cause.evidence.push_back("JVM: " + lw.java->reason);
    }
    return;
  }
  if (lw.backtrace.empty()) return;
  const StackFrame* own = first_own_frame(lw.backtrace);
  // The process's own exit (no signal had a part in it): who called exit.
  const bool own_exit = cause.category == CauseCategory::Exit && outcome.kind == OutcomeKind::Exited &&
                        !cause.signal && !cause.sender;
  if (own_exit) {
    if (own) cause.summary += ": exit() called from " + describe_frame(*own);
  } else if (cause.category == CauseCategory::Crash && outcome.signal == SIGABRT) {
    if (own) cause.summary += "; abort() called from " + describe_frame(*own);
  } else if (cause.category == CauseCategory::Crash) {
    cause.summary += " in " + describe_frame(lw.backtrace.front());
    if (own && own != &lw.backtrace.front()) cause.summary += ", called from " + describe_frame(*own);
  }
}

}  // namespace deathwatch
