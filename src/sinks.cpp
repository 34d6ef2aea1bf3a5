#include "deathwatch/sinks.h"
#include "deathwatch/stderr_writer.h"

#include <iostream>

#include <spdlog/spdlog.h>

namespace deathwatch {

namespace {

class CertificateFileSink : public Sink {
 public:
  explicit CertificateFileSink(std::shared_ptr<CertificateWriter> writer) : writer_(std::move(writer)) {}

  void update(const Certificate& certificate) override {
    if (write(certificate) || failed_) return;
    failed_ = true;  // said once; tried again at the next update (space may come back)
    spdlog::error("{} (retrying; only a failure of the final certificate is said again)", error_);
  }

  void final(const Certificate& certificate) override {
    if (writer_->events_lost()) {
      Certificate with_note = certificate;
      with_note.watcher.warnings.push_back(std::to_string(writer_->events_lost()) +
                                           " signal event(s) could not be written to " +
                                           writer_->events_path() + " (counted here)");
      if (write(with_note)) return;
    } else if (write(certificate)) {
      return;
    }
    // deathwatch still mirrors the target's exit status; this line is the only sign.
    spdlog::error("the final certificate was not written: {} ({})", error_,
                  writer_->target() == CertificateWriter::Target::Replace
                      ? writer_->path() + " holds the last one written"
                      : "nothing was written to " + writer_->path());
  }

 private:
  bool write(const Certificate& certificate) {
    auto st = writer_->write_certificate(to_json(certificate, WallClock::now()));
    if (!st) error_ = st.error().describe();
    return st.ok();
  }
  std::shared_ptr<CertificateWriter> writer_;
  bool failed_ = false;
  std::string error_;
};

class EventLogSink : public Sink {
 public:
  explicit EventLogSink(std::shared_ptr<CertificateWriter> writer) : writer_(std::move(writer)) {}

  void signal_recorded(const SignalRecord& record, Durability when) override {
    if (!writer_->has_event_log()) return;  // -o names a device: no log beside it
    // Repeats beyond the log's bound are only counted (in the certificate).
    const bool from_other_process = record.sender && record.sender->source != "self";
    const auto repeat = budget_.admit(record, from_other_process);
    if (!repeat) return;
    if (when == Durability::EndOfBatch) {
      pending_ += event_line(record, *repeat);  // one write for the whole batch
      return;
    }
    append(event_line(record, *repeat));
  }

  void end_batch() override {
    if (pending_.empty()) return;
    append(pending_);
    pending_.clear();
  }

 private:
  void append(const std::string& lines) {
    auto st = writer_->append_event(lines);
    if (st || failed_) return;
    failed_ = true;  // said once; the certificate counts the lines at the end
    spdlog::error("{}: signal events are not all in the event log from now on (the certificate "
                  "still counts them)", st.error().describe());
  }
  std::shared_ptr<CertificateWriter> writer_;
  EventLogBudget budget_;
  std::string pending_;
  bool failed_ = false;
};

class StderrReportSink : public Sink {
 public:
  explicit StderrReportSink(ReportOptions options) : options_(options) {}
  void final(const Certificate& certificate) override {
    if (!options_.stderr_open) return;  // a closed stream stays closed; nothing lands elsewhere
    if (certificate.exec_error) {
      stderr_writer().write("deathwatch: " + escape_for_terminal(*certificate.exec_error) + "\n", StderrWriter::kPatience);
      return;
    }
    if (options_.quiet && certificate.outcome.is_normal()) return;
    stderr_writer().write(render_report(certificate, options_.colour), StderrWriter::kPatience);
  }

 private:
  ReportOptions options_;
};

}  // namespace

std::unique_ptr<Sink> certificate_file_sink(std::shared_ptr<CertificateWriter> writer) {
  return std::make_unique<CertificateFileSink>(std::move(writer));
}

std::unique_ptr<Sink> event_log_sink(std::shared_ptr<CertificateWriter> writer) {
  return std::make_unique<EventLogSink>(std::move(writer));
}

std::unique_ptr<Sink> stderr_report_sink(ReportOptions options) {
  return std::make_unique<StderrReportSink>(options);
}

}  // namespace deathwatch
