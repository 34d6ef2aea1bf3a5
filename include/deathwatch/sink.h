// Sinks: where the certificate goes. Each output (the JSON file, the FILE.events log, the
// report on stderr; later the journal, metrics, hooks) implements this one interface and is
// told of the record at defined moments; none of them decides anything about the death.
#pragma once

#include <memory>
#include <vector>

#include "deathwatch/certificate.h"
#include "deathwatch/redactor.h"

namespace deathwatch {

// When a recorded signal must be on disk.
enum class Durability {
  Now,         // before the call returns: a ptrace tracee waits to receive it
  EndOfBatch,  // by end_batch(): the kernel already delivered it, nothing waits
};

class Sink {
 public:
  virtual ~Sink() = default;
  // One observed signal, before it is re-injected (ptrace) or as the kernel reported it.
  virtual void signal_recorded(const SignalRecord&, Durability) {}
  // A batch of kernel events (already delivered: nothing waits) is complete: what was
  // collected since begin_batch() may now be written in one go.
  virtual void end_batch() {}
  // The model changed (a new sender at once, otherwise at the recorder's pace).
  virtual void update(const Certificate&) {}
  // The watch is over: the certificate is final (or, for an attached process, says alive).
  virtual void final(const Certificate&) {}
};

// The sinks in use, told together. Batching is a property of the moment, not of a sink:
// the supervisor opens a batch around each ring-buffer drain.
class Outputs {
 public:
  void add(std::unique_ptr<Sink> sink) { sinks_.push_back(std::move(sink)); }

  void begin_batch() { batching_ = true; }
  void end_batch() {
    batching_ = false;
    for (auto& s : sinks_) s->end_batch();
  }
  // --redact: what every sink is told is masked first (a copy; the record keeps the truth).
  void set_redactor(std::shared_ptr<const Redactor> redactor) { redactor_ = std::move(redactor); }

  void signal_recorded(const SignalRecord& record) {
    const Durability when = batching_ ? Durability::EndOfBatch : Durability::Now;
    if (redactor_ && redactor_->active() && (record.sender || record.forwarded_from)) {
      SignalRecord masked = record;
      redactor_->apply(masked);
      for (auto& s : sinks_) s->signal_recorded(masked, when);
      return;
    }
    for (auto& s : sinks_) s->signal_recorded(record, when);
  }
  void update(const Certificate& certificate) { each(certificate, &Sink::update); }
  void final(const Certificate& certificate) { each(certificate, &Sink::final); }

 private:
  void each(const Certificate& certificate, void (Sink::*told)(const Certificate&)) {
    if (redactor_ && redactor_->active()) {
      Certificate masked = certificate;
      redactor_->apply(masked);
      for (auto& s : sinks_) ((*s).*told)(masked);
      return;
    }
    for (auto& s : sinks_) ((*s).*told)(certificate);
  }

  std::vector<std::unique_ptr<Sink>> sinks_;
  std::shared_ptr<const Redactor> redactor_;
  bool batching_ = false;
};

}  // namespace deathwatch
