#include "deathwatch/redactor.h"

#include <iterator>

namespace deathwatch {

Redactor::Redactor(const std::vector<std::string>& patterns) {
  for (const auto& p : patterns) patterns_.emplace_back(p, std::regex::ECMAScript);
}

void Redactor::apply(std::vector<std::string>& words) const {
  if (patterns_.empty() || words.empty()) return;
  // libstdc++'s std::regex recurses per character: text of hundreds of KiB (a command line
  // may reach 2 MiB) could exhaust the stack. A word that long is masked whole, unmatched:
  // too much hidden rather than a secret shown.
  for (auto& w : words)
    if (w.size() > kLongestMatched) w = std::string(kMask) + " (" + std::to_string(w.size()) + " bytes, not matched)";
  std::string joined;
  std::vector<std::size_t> starts;
  for (const auto& w : words) {
    if (!joined.empty() || !starts.empty()) joined += ' ';
    starts.push_back(joined.size());
    joined += w;
  }
  if (joined.size() > kLongestMatched) {  // many words: matched one by one instead
    for (auto& w : words) {
      std::vector<std::string> one{std::move(w)};
      apply(one);
      w = std::move(one.front());
    }
    return;
  }
  std::vector<bool> masked(joined.size(), false);
  bool any = false;
  for (const auto& re : patterns_) {
    for (auto it = std::sregex_iterator(joined.begin(), joined.end(), re); it != std::sregex_iterator(); ++it) {
      const auto begin = static_cast<std::size_t>(it->position());
      const auto end = begin + static_cast<std::size_t>(it->length());
      for (std::size_t i = begin; i < end; ++i) masked[i] = true;
      any = any || end > begin;
    }
  }
  if (!any) return;
  for (std::size_t k = 0; k < words.size(); ++k) {
    const std::size_t start = starts[k];
    const std::string& word = words[k];
    std::string out;
    bool in_mask = false;
    for (std::size_t i = 0; i < word.size(); ++i) {
      if (masked[start + i]) {
        if (!in_mask) out += kMask;
        in_mask = true;
      } else {
        out += word[i];
        in_mask = false;
      }
    }
    words[k] = std::move(out);
  }
}

void Redactor::apply(std::string& text) const {
  if (patterns_.empty()) return;
  std::vector<std::string> one{std::move(text)};
  apply(one);
  text = std::move(one.front());
}

void Redactor::apply(Sender& sender) const {
  if (sender.cmdline) apply(*sender.cmdline);
  if (sender.comm) apply(*sender.comm);
  if (sender.exe) apply(*sender.exe);
  if (sender.note) apply(*sender.note);
  for (auto& a : sender.ancestry) apply(a.comm);
}

void Redactor::apply(SignalRecord& record) const {
  if (record.sender) apply(*record.sender);
  if (record.forwarded_from) apply(*record.forwarded_from);
}

void Redactor::apply(Cause& cause) const {
  apply(cause.summary);
  for (auto& e : cause.evidence) apply(e);
  if (cause.sender) apply(*cause.sender);
}

void Redactor::apply(Certificate& c) const {
  if (patterns_.empty()) return;
  apply(c.process.argv);
  if (c.process.exe) apply(*c.process.exe);
  if (c.process.cwd) apply(*c.process.cwd);
  apply(c.cause);
  for (auto& s : c.signals) apply(s);
  if (c.oom) {
    if (c.oom->triggered_by) apply(*c.oom->triggered_by);
    for (auto& e : c.oom->evidence) apply(e);
  }
  for (auto& d : c.descendants) {
    apply(d.argv);
    if (d.exe) apply(*d.exe);
    apply(d.cause);
    if (d.oom && d.oom->triggered_by) apply(*d.oom->triggered_by);
  }
  if (c.root_cause) {
    apply(c.root_cause->argv);
    apply(c.root_cause->summary);
    apply(c.root_cause->cause);
  }
  for (auto& w : c.watcher.warnings) apply(w);
  if (c.exec_error) apply(*c.exec_error);
}

}  // namespace deathwatch
