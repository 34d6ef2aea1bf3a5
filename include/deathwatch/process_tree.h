// The watched process's descendants: who started whom, how each ended, and which death
// explains the watched process's own end (the root cause). Pure bookkeeping, no I/O:
// unit-tested in tests/unit/test_process_tree.cpp.
//
// Memory is bounded for a supervisor that spawns a million short children: the living are
// kept, abnormal deaths up to a limit, normal exits only counted.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <optional>
#include <unordered_map>
#include <vector>

#include "deathwatch/certificate.h"

namespace deathwatch {

inline constexpr std::size_t kMaxDescendantsListed = 1000;
// How long before its parent's end a child's death (not matching the parent's status) may
// still be its cause: a parent that reacts to a child's death does so at once.
inline constexpr double kCausalWindowSeconds = 2.0;

class ProcessTree {
 public:
  explicit ProcessTree(pid_t top, std::size_t max_listed = kMaxDescendantsListed)
      : top_(top), max_listed_(max_listed) {}

  // A watched process (the top or a descendant) created process `pid`. A fork child runs its
  // parent's program until it execs, so it starts with the parent's argv.
  void on_start(pid_t pid, pid_t ppid, WallTime when);
  void on_exec(pid_t pid, std::vector<std::string> argv, std::optional<std::string> exe);
  // `pid` died. Its cause is decided from the signals recorded for it (and OOM evidence).
  // Returns false when `pid` was not a watched descendant.
  bool on_exit(pid_t pid, const Outcome& outcome, WallTime when,
               const std::vector<SignalRecord>& signals, std::optional<OomKill> oom,
               std::optional<LastWords> last_words = std::nullopt);

  bool is_descendant(pid_t pid) const { return alive_.count(pid) != 0; }
  std::size_t alive_count() const { return alive_.size(); }
  bool is_alive(pid_t pid) const { return alive_.count(pid) > 0; }
  std::vector<pid_t> alive_pids() const;
  // argv of a live descendant (or the top's, given at construction via set_top_argv).
  const std::vector<std::string>* argv_of(pid_t pid) const;
  void set_top_argv(std::vector<std::string> argv) { top_argv_ = std::move(argv); }

  // Abnormal deaths first (in order of death), then the living.
  std::vector<Descendant> snapshot() const;
  DescendantCounts counts() const;

  // Which descendant death explains the top's `outcome`: follows, from the top down, the
  // child whose death matches its parent's status (killed by S for an exit 128+S or a death
  // by S, the same exit code). Without such a match, a child's death counts only when it can
  // have caused its parent's end: the last of the parent's children to end, within
  // kCausalWindow before it (any death by a signal, else any abnormal exit). Null when the
  // top ended normally or explains itself (it received the fatal signal directly).
  // `top_end`: when the top ended (unknown: the window is not checked for the top).
  std::optional<RootCause> root_cause(const Outcome& top_outcome, const Cause& top_cause,
                                      std::optional<WallTime> top_end = std::nullopt) const;

  static bool is_abnormal(const Outcome& outcome, const Cause& cause);

 private:
  const Descendant* explaining_child(pid_t parent, const Outcome& parent_outcome,
                                     std::optional<WallTime> parent_end) const;

  pid_t top_;
  std::size_t max_listed_;
  std::vector<std::string> top_argv_;
  std::unordered_map<pid_t, Descendant> alive_;
  std::vector<Descendant> dead_;  // abnormal deaths only, at most max_listed_
  // Was a listed death the last of its parent's children to end? For each listed dead
  // process, when the next child of the same parent ended (normal exits included); a parent's
  // listed dead children still without one wait in awaiting_next_end_. Bounded by the list.
  std::unordered_map<pid_t, WallTime> next_sibling_end_;
  std::unordered_map<pid_t, std::vector<pid_t>> awaiting_next_end_;  // parent -> children
  DescendantCounts counts_;
};

// "its child `sleep 300` (pid 4242) was killed: SIGTERM from timeout (pid 4200, ...)"
std::string describe_descendant_death(const Descendant& d);

}  // namespace deathwatch
