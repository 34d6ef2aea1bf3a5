// The sinks deathwatch has: the JSON certificate file and its event log (-o FILE), and the
// report on stderr.
#pragma once

#include <memory>

#include "deathwatch/certificate_writer.h"
#include "deathwatch/report.h"
#include "deathwatch/sink.h"

namespace deathwatch {

// -o FILE: the certificate, rewritten whole at each update and at the end.
std::unique_ptr<Sink> certificate_file_sink(std::shared_ptr<CertificateWriter> writer);
// FILE.events: one JSON line per recorded signal, durable as each is recorded (or, for a
// batch of kernel events, in one write at the batch's end).
std::unique_ptr<Sink> event_log_sink(std::shared_ptr<CertificateWriter> writer);

struct ReportOptions {
  bool quiet = false;        // -q: only an abnormal death is reported
  bool stderr_open = true;   // deathwatch was started with stderr open
  Colour colour = Colour::Off;
};
// The report a person reads, at the end: one line when the command could not be executed.
std::unique_ptr<Sink> stderr_report_sink(ReportOptions options);

}  // namespace deathwatch
