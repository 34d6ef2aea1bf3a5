#include "deathwatch/journal_sink.h"

#include <sys/stat.h>
#include <sys/uio.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <vector>

#include <spdlog/spdlog.h>

#include "deathwatch/death_facts.h"

namespace deathwatch {

bool stderr_is_journal_stream() {
  const char* value = std::getenv("JOURNAL_STREAM");
  if (value == nullptr) return false;
  unsigned long long device = 0, inode = 0;
  if (std::sscanf(value, "%llu:%llu", &device, &inode) != 2) return false;
  struct stat st {};
  if (::fstat(STDERR_FILENO, &st) != 0) return false;
  return static_cast<unsigned long long>(st.st_dev) == device && static_cast<unsigned long long>(st.st_ino) == inode;
}

namespace {

class JournalSink : public Sink {
 public:
  explicit JournalSink(std::string certificate_path) : certificate_path_(std::move(certificate_path)) {}

  void final(const Certificate& c) override {
    const DeathFacts f = death_facts(c);
    std::vector<std::string> fields;
    auto put = [&fields](const char* key, const std::optional<std::string>& value) {
      if (value) fields.push_back(std::string(key) + "=" + *value);
    };
    std::string message = f.command.empty() ? f.summary : f.command + ": " + f.summary;
    if (message.empty()) message = c.outcome.describe();
    put("MESSAGE", message);
    put("MESSAGE_ID", std::string(kJournalMessageId));
    // err (3) for an abnormal end, info (6) for a clean one.
    put("PRIORITY", std::string(c.outcome.is_normal() ? "6" : "3"));
    put("SYSLOG_IDENTIFIER", std::string("deathwatch"));
    for (const auto& [key, value] : death_fields(f))
      if (key != "SUMMARY") fields.push_back("DEATHWATCH_" + key + "=" + value);  // it is MESSAGE
    put("DEATHWATCH_CERTIFICATE",
        certificate_path_.empty() ? std::nullopt : std::optional<std::string>(certificate_path_));
    put("DEATHWATCH_JSON", to_json_text(to_json(c, WallClock::now()), -1));
    std::vector<struct iovec> iov;
    for (auto& field : fields) iov.push_back({field.data(), field.size()});
    // libsystemd writes the binary-safe form for values with newlines, and a sealed memfd
    // when the entry is larger than a datagram.
    if (const int r = sd_journal_sendv(iov.data(), static_cast<int>(iov.size())); r < 0)
      spdlog::error("journal entry not sent: {}", std::strerror(-r));
  }

 private:
  std::string certificate_path_;
};

}  // namespace

std::unique_ptr<Sink> journal_sink(std::string certificate_path) {
  return std::make_unique<JournalSink>(std::move(certificate_path));
}

}  // namespace deathwatch
