#include "deathwatch/process_tree.h"

#include "deathwatch/death_scenes.h"

#include <signal.h>

#include <algorithm>

#include "deathwatch/verdict.h"

namespace deathwatch {

namespace {

std::string join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ' ';
    out += w;
  }
  return out;
}

}  // namespace

bool ProcessTree::is_abnormal(const Outcome& outcome, const Cause& cause) {
  if (outcome.kind == OutcomeKind::Killed) return true;
  // An end that was not seen (the process vanished: an event lost) is not known to be normal.
  if (outcome.kind == OutcomeKind::Unknown) return true;
  if (outcome.kind == OutcomeKind::Exited && outcome.exit_code != 0) return true;
  // Exit 0 after a signal from another process (a graceful shutdown) is worth listing.
  return cause.category == CauseCategory::Signal || cause.category == CauseCategory::Terminal;
}

void ProcessTree::on_start(pid_t pid, pid_t ppid, WallTime when) {
  if (pid == top_ || alive_.count(pid)) return;
  Descendant d;
  d.pid = pid;
  d.ppid = ppid;
  d.started_at = when;
  if (const auto* parent_argv = argv_of(ppid)) d.argv = *parent_argv;
  alive_.emplace(pid, std::move(d));
  ++counts_.started;
}

void ProcessTree::on_exec(pid_t pid, std::vector<std::string> argv, std::optional<std::string> exe) {
  auto it = alive_.find(pid);
  if (it == alive_.end()) return;
  if (!argv.empty()) it->second.argv = std::move(argv);
  if (exe) it->second.exe = std::move(exe);
}

const std::vector<std::string>* ProcessTree::argv_of(pid_t pid) const {
  if (pid == top_) return &top_argv_;
  auto it = alive_.find(pid);
  return it == alive_.end() ? nullptr : &it->second.argv;
}

std::vector<pid_t> ProcessTree::alive_pids() const {
  std::vector<pid_t> pids;
  pids.reserve(alive_.size());
  for (const auto& [pid, d] : alive_) pids.push_back(pid);
  return pids;
}

bool ProcessTree::on_exit(pid_t pid, const Outcome& outcome, WallTime when,
                          const std::vector<SignalRecord>& signals, std::optional<OomKill> oom,
                          std::optional<LastWords> last_words) {
  auto it = alive_.find(pid);
  if (it == alive_.end()) return false;
  Descendant d = std::move(it->second);
  alive_.erase(it);
  d.ended_at = when;
  d.outcome = outcome;
  d.oom = std::move(oom);
  d.cause = decide_cause(outcome, pid, signals, when, d.oom);
  d.last_words = std::move(last_words);
  if (d.last_words) tell_cause_with_last_words(d.cause, outcome, *d.last_words);
  const pid_t ppid = d.ppid;
  auto waiting = awaiting_next_end_.find(ppid);
  if (waiting != awaiting_next_end_.end()) {
    for (pid_t sibling : waiting->second) next_sibling_end_[sibling] = when;
    awaiting_next_end_.erase(waiting);
  }
  if (!is_abnormal(d.outcome, d.cause)) {
    ++counts_.exited_normally;
  } else if (dead_.size() >= max_listed_) {
    ++counts_.not_listed;
  } else {
    dead_.push_back(std::move(d));
    awaiting_next_end_[ppid].push_back(pid);
  }
  return true;
}

std::vector<Descendant> ProcessTree::snapshot() const {
  std::vector<Descendant> out(dead_);
  std::vector<const Descendant*> living;
  for (const auto& [pid, d] : alive_) living.push_back(&d);
  std::sort(living.begin(), living.end(),
            [](const Descendant* a, const Descendant* b) { return a->started_at < b->started_at; });
  for (const auto* d : living) out.push_back(*d);
  return out;
}

DescendantCounts ProcessTree::counts() const {
  DescendantCounts c = counts_;
  c.alive = alive_.size();
  return c;
}

const Descendant* ProcessTree::explaining_child(pid_t parent, const Outcome& parent_outcome,
                                                std::optional<WallTime> parent_end) const {
  const Descendant* killed_by_matching = nullptr;
  const Descendant* same_exit = nullptr;
  const Descendant* killed_by_any = nullptr;
  const Descendant* abnormal_exit = nullptr;
  const int code = parent_outcome.exit_code.value_or(-1);
  // A death that does not match the parent's status explains it only if no other child of
  // the parent ended between it and the parent's end, and it came just before that end:
  // `grep` failing, then `sleep 1`, then `exit 3` is not "exit 3 because grep failed".
  auto causal = [&](const Descendant& d) {
    if (!d.ended_at) return false;
    if (auto next = next_sibling_end_.find(d.pid);
        next != next_sibling_end_.end() && (!parent_end || next->second <= *parent_end))
      return false;
    return !parent_end || seconds_between(*d.ended_at, *parent_end) <= kCausalWindowSeconds;
  };
  // dead_ is in order of death: later entries win (the death closest to the parent's).
  for (const auto& d : dead_) {
    if (d.ppid != parent) continue;
    if (parent_end && d.ended_at && *d.ended_at > *parent_end) continue;
    if (d.outcome.kind == OutcomeKind::Killed) {
      if (causal(d)) killed_by_any = &d;
      if (parent_outcome.kind == OutcomeKind::Exited && code == 128 + d.outcome.signal.value_or(0))
        killed_by_matching = &d;
      if (parent_outcome.kind == OutcomeKind::Killed && parent_outcome.signal == d.outcome.signal)
        killed_by_matching = &d;
    } else if (d.outcome.kind == OutcomeKind::Exited && d.outcome.exit_code != 0) {
      if (causal(d)) abnormal_exit = &d;
      if (parent_outcome.kind == OutcomeKind::Exited && d.outcome.exit_code == code) same_exit = &d;
    }
  }
  if (killed_by_matching) return killed_by_matching;
  if (same_exit) return same_exit;
  if (killed_by_any) return killed_by_any;
  return abnormal_exit;
}

std::optional<RootCause> ProcessTree::root_cause(const Outcome& top_outcome, const Cause& top_cause,
                                                 std::optional<WallTime> top_end) const {
  if (top_outcome.is_normal() || top_outcome.kind == OutcomeKind::Alive) return std::nullopt;
  // A top killed (or told to exit) by a signal aimed at it explains itself.
  if (top_cause.category != CauseCategory::Exit && top_cause.category != CauseCategory::Unknown &&
      !(top_cause.category == CauseCategory::Signal && !top_cause.sender &&
        top_cause.confidence == Confidence::Unknown))
    return std::nullopt;

  RootCause root;
  const Descendant* current = explaining_child(top_, top_outcome, top_end);
  if (!current) return std::nullopt;
  for (int depth = 0; current && depth < 64; ++depth) {
    root.chain.push_back(current->pid);
    // A process that died of a signal (or crashed) directly is the end of the chain.
    if (current->cause.category != CauseCategory::Exit) break;
    const Descendant* next = explaining_child(current->pid, current->outcome, current->ended_at);
    if (!next) break;
    current = next;
  }
  root.pid = current->pid;
  root.argv = current->argv;
  root.cause = current->cause;
  const char* relation = root.chain.size() == 1 ? "child" : root.chain.size() == 2 ? "grandchild" : "descendant";
  const std::string top_name = top_argv_.empty() ? "the process" : top_argv_.front();
  root.summary = top_name + " " + top_outcome.describe() + " because its " + relation + " " +
                 describe_descendant_death(*current);
  return root;
}

std::string describe_descendant_death(const Descendant& d) {
  std::string text = "`" + join(d.argv) + "` (pid " + std::to_string(d.pid) + ") ";
  if (d.outcome.kind == OutcomeKind::Killed) {
    text += d.cause.summary.rfind("killed", 0) == 0 ? "was " + d.cause.summary : "was killed: " + d.cause.summary;
  } else {
    text += d.outcome.describe();
    if (d.cause.category != CauseCategory::Exit) text += " (" + d.cause.summary + ")";
  }
  return text;
}

}  // namespace deathwatch
