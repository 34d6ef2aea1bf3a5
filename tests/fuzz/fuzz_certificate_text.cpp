// libFuzzer target: what a certificate reader meets. (1) Any bytes as a Linux string (argv,
// path, comm) written into the certificate come out as valid JSON that reads back to the
// same bytes (the \xHH rule, certificate.h). (2) Any text as a certificate file, a JVM agent
// report, an attach reply or a metrics textfile is parsed without a crash.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "deathwatch/certificate.h"
#include "deathwatch/finalize.h"
#include "deathwatch/jvm_agent.h"
#include "deathwatch/metrics_text.h"

namespace {

// The documented way back: "\x" and two hex digits 80..ff or 5c is that byte.
std::string unescape(const std::string& s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() + 0 && s[i + 1] == 'x' && hex(s[i + 2]) >= 0 && hex(s[i + 3]) >= 0) {
      const int v = hex(s[i + 2]) * 16 + hex(s[i + 3]);
      if (v >= 0x80 || v == 0x5c) {
        out += static_cast<char>(v);
        i += 3;
        continue;
      }
    }
    out += s[i];
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  const std::string literal = deathwatch::json_string_text(bytes);
  const auto parsed = nlohmann::json::parse(literal, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_string()) __builtin_trap();
  if (unescape(parsed.get<std::string>()) != bytes) __builtin_trap();

  const auto document = nlohmann::json::parse(bytes, nullptr, false);
  if (!document.is_discarded()) (void)deathwatch::to_json_text(document, 2);
  if (!document.is_discarded() && document.is_object()) {  // finalize reads only objects
    // `deathwatch finalize` reads certificates others may have damaged: any JSON at all.
    nlohmann::json copy = document;
    copy["schema"] = deathwatch::kCertificateSchema;
    const deathwatch::SystemdEnding ending{"timeout", "killed", "KILL"};
    (void)deathwatch::finalize_certificate(copy, {document}, ending, deathwatch::WallClock::now());
  }
  (void)deathwatch::parse_agent_report(bytes, 1, std::nullopt);
  (void)deathwatch::parse_attach_reply(bytes);
  (void)deathwatch::java_major_version(bytes);
  // A metrics textfile read back (--metrics): what it renders parses to the same counts.
  const auto metrics = deathwatch::parse_death_metrics(bytes);
  if (deathwatch::parse_death_metrics(deathwatch::render_death_metrics(metrics)).deaths != metrics.deaths)
    __builtin_trap();
  return 0;
}
