#include "deathwatch/sinks.h"

#include <iostream>

#include <spdlog/spdlog.h>

namespace deathwatch {

namespace {

class CertificateFileSink : public Sink {
 public:
  explicit CertificateFileSink(std::shared_ptr<CertificateWriter> writer) : writer_(std::move(writer)) {}
  void update(const Certificate& certificate) override { write(certificate); }
  void final(const Certificate& certificate) override { write(certificate); }

 private:
  void write(const Certificate& certificate) {
    if (auto st = writer_->write_certificate(to_json(certificate, WallClock::now())); !st)
      spdlog::error("{}", st.error().describe());
  }
  std::shared_ptr<CertificateWriter> writer_;
};

class EventLogSink : public Sink {
 public:
  explicit EventLogSink(std::shared_ptr<CertificateWriter> writer) : writer_(std::move(writer)) {}
  void signal_recorded(const SignalRecord& record, Durability when) override {
    if (when == Durability::EndOfBatch) {
      pending_ += event_line(record);  // one write for the whole batch
      return;
    }
    append(event_line(record));
  }
  void end_batch() override {
    if (pending_.empty()) return;
    append(pending_);
    pending_.clear();
  }

 private:
  void append(const std::string& lines) {
    if (auto st = writer_->append_event(lines); !st) spdlog::error("{}", st.error().describe());
  }
  std::shared_ptr<CertificateWriter> writer_;
  std::string pending_;
};

class StderrReportSink : public Sink {
 public:
  explicit StderrReportSink(ReportOptions options) : options_(options) {}
  void final(const Certificate& certificate) override {
    if (!options_.stderr_open) return;  // a closed stream stays closed; nothing lands elsewhere
    if (certificate.exec_error) {
      std::cerr << "deathwatch: " << escape_for_terminal(*certificate.exec_error) << "\n";
      return;
    }
    if (options_.quiet && certificate.outcome.is_normal()) return;
    std::cerr << render_report(certificate, options_.colour) << std::flush;
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
