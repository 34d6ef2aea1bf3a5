// JSON text that keeps bytes which are not UTF-8 (src/certificate.cpp to_json_text): a
// strict parser reads it, and the documented unescaping gives the bytes back exactly.
#include <doctest/doctest.h>

#include <cctype>
#include <random>
#include <string>

#include <nlohmann/json.hpp>

#include "deathwatch/certificate.h"

using namespace deathwatch;
using nlohmann::json;

namespace {

// The reading rule documented in the README: "\x" + two hex digits 80..ff or 5c is a byte.
std::string unescape(const std::string& text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 3 < text.size() + 0 && text[i + 1] == 'x' && std::isxdigit(static_cast<unsigned char>(text[i + 2])) &&
        std::isxdigit(static_cast<unsigned char>(text[i + 3]))) {
      const int byte = std::stoi(text.substr(i + 2, 2), nullptr, 16);
      if (byte >= 0x80 || byte == 0x5c) {
        out += static_cast<char>(byte);
        i += 3;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

// What a reader gets: parsed by a strict JSON parser, then unescaped.
std::string read_back(const std::string& literal) { return unescape(json::parse(literal).get<std::string>()); }

}  // namespace

TEST_CASE("json_string_text: valid UTF-8 is written as nlohmann writes it") {
  for (const std::string s : {std::string("plain"), std::string("caf\xc3\xa9"), std::string("a\\x41"),
                              std::string("C:\\\\dir\\"), std::string("tab\tquote\""),
                              std::string("\xf0\x9f\x92\x80"), std::string("\xf4\x8f\xbf\xbf")}) {
    CAPTURE(s);
    CHECK(json_string_text(s) == json(s).dump());
  }
}

TEST_CASE("json_string_text: each byte outside valid UTF-8 is \\xHH, a strict parser reads it") {
  CHECK(json::parse(json_string_text("a\xff")) == "a\\xff");
  CHECK(json::parse(json_string_text("\xe2\x82")) == "\\xe2\\x82");                 // truncated
  CHECK(json::parse(json_string_text("\xc0\xaf")) == "\\xc0\\xaf");                 // overlong
  CHECK(json::parse(json_string_text("\xed\xa0\x80")) == "\\xed\\xa0\\x80");        // a surrogate
  CHECK(json::parse(json_string_text("\xf4\x90\x80\x80")) == "\\xf4\\x90\\x80\\x80");  // > U+10FFFF
  // Text that would read as an escape keeps its backslash as \x5c.
  CHECK(json::parse(json_string_text("\\xff")) == "\\x5cxff");
  CHECK(json::parse(json_string_text("\\x5C")) == "\\x5cx5C");
  CHECK(json::parse(json_string_text("\\\xff")) == "\\x5c\\xff");
}

TEST_CASE("json_string_text: any bytes round-trip exactly") {
  std::mt19937 random(42);
  const char alphabet[] = {'\\', 'x', '5', 'c', 'C', 'f', 'F', '8', '0', 'a', '\xff', '\xc3', '\xa9', '\x80', '\xe2', 'z'};
  for (int round = 0; round < 5000; ++round) {
    std::string bytes(random() % 10, '\0');
    for (auto& b : bytes) b = alphabet[random() % sizeof alphabet];
    CAPTURE(json(bytes).dump(-1, ' ', true, json::error_handler_t::replace));
    CHECK(read_back(json_string_text(bytes)) == bytes);
  }
}

TEST_CASE("to_json_text: nested strings escaped, the rest as nlohmann writes it") {
  json cert = {{"process", {{"argv", {"ls", "caf\xc3\xa9", "\xff\xfe"}}, {"cwd", "/tmp/\xe9t\xe9"}}},
               {"final", true}};
  const json back = json::parse(to_json_text(cert, 2));
  CHECK(back["process"]["argv"][2] == "\\xff\\xfe");
  CHECK(back["process"]["cwd"] == "/tmp/\\xe9t\\xe9");
  CHECK(back["process"]["argv"][1] == "caf\xc3\xa9");
  json valid = {{"a", {"x", 1, nullptr}}, {"b", "caf\xc3\xa9"}};
  CHECK(to_json_text(valid, 2) == valid.dump(2));
  CHECK(to_json_text(valid, -1) == valid.dump());
}
