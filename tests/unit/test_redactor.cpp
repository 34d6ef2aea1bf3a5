// --redact (src/redactor.cpp) and the other pure pieces of the security model: file modes
// (--mode) and /proc's hidepid options.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "deathwatch/cli.h"
#include "deathwatch/procfs.h"
#include "deathwatch/redactor.h"

using namespace deathwatch;

TEST_CASE("a match inside one word is masked, the rest of the word kept") {
  Redactor r({R"(token-\d+)"});
  std::vector<std::string> argv{"app", "--auth=token-1234", "x"};
  r.apply(argv);
  CHECK(argv == std::vector<std::string>{"app", "--auth=[redacted]", "x"});
}

TEST_CASE("a match spanning two words masks its part of each, word count unchanged") {
  Redactor r({R"(--password \S+)"});
  std::vector<std::string> argv{"mysql", "--password", "hunter2", "db"};
  r.apply(argv);
  CHECK(argv == std::vector<std::string>{"mysql", "[redacted]", "[redacted]", "db"});
}

TEST_CASE("several patterns, overlapping matches, empty words") {
  Redactor r({"ab", "bc"});
  std::vector<std::string> argv{"", "xabcx", "", "bc"};
  r.apply(argv);
  CHECK(argv == std::vector<std::string>{"", "x[redacted]x", "", "[redacted]"});
}

TEST_CASE("no pattern: nothing changes, inactive") {
  Redactor r({});
  CHECK_FALSE(r.active());
  std::string s = "secret";
  r.apply(s);
  CHECK(s == "secret");
}

TEST_CASE("a whole certificate: argv, senders, descendants, causes and warnings") {
  Redactor r({"s3cr3t"});
  Certificate c;
  c.process.argv = {"cmd", "s3cr3t"};
  Sender sender;
  sender.cmdline = std::vector<std::string>{"kill", "-TERM", "1", "s3cr3t"};
  SignalRecord record;
  record.sender = sender;
  c.signals.push_back(record);
  c.cause.sender = sender;
  c.cause.summary = "killed by kill s3cr3t";
  Descendant d;
  d.argv = {"child", "--key=s3cr3t"};
  c.descendants.push_back(d);
  c.watcher.warnings.push_back("cmd s3cr3t ended");
  r.apply(c);
  const std::string text = to_json(c, WallClock::now()).dump();
  CHECK(text.find("s3cr3t") == std::string::npos);
  CHECK(c.descendants[0].argv[1] == "--key=[redacted]");
}

TEST_CASE("--mode parses octal permission modes only") {
  CHECK(parse_file_mode("0640") == std::optional<mode_t>(0640));
  CHECK(parse_file_mode("600") == std::optional<mode_t>(0600));
  CHECK_FALSE(parse_file_mode("0999"));
  CHECK_FALSE(parse_file_mode("4755"));  // set-uid means nothing here: refused
  CHECK_FALSE(parse_file_mode(""));
  CHECK_FALSE(parse_file_mode("rw-r-----"));
  CHECK_FALSE(parse_file_mode("00000640"));
}

TEST_CASE("hidepid and gid from mountinfo: the topmost proc mount at /proc wins") {
  const char* text =
      "22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw\n"
      "30 22 0:40 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw\n"
      "41 22 0:44 / /proc rw,relatime - proc proc rw,hidepid=invisible,gid=27\n";
  auto options = parse_proc_mount_options(text);
  CHECK(options.hidepid == 2);
  REQUIRE(options.gid);
  CHECK(*options.gid == 27);
  CHECK(parse_proc_mount_options("22 1 0:21 / /proc rw - proc proc rw,hidepid=1\n").hidepid == 1);
  CHECK(parse_proc_mount_options("22 1 0:21 / /proc rw - proc proc rw\n").hidepid == 0);
  CHECK(parse_proc_mount_options("garbage\n\n - - -").hidepid == 0);
}

TEST_CASE("a word too long to match safely is masked whole; others are still matched") {
  Redactor r({"s3cr3t"});
  std::vector<std::string> argv{"cmd", std::string(Redactor::kLongestMatched + 1, 'x'), "a-s3cr3t"};
  r.apply(argv);
  CHECK(argv[1].rfind("[redacted] (", 0) == 0);
  CHECK(argv[2] == "a-[redacted]");
  std::vector<std::string> many(20, std::string(1000, 'y'));
  many.push_back("s3cr3t");
  r.apply(many);  // joined longer than the limit: matched word by word
  CHECK(many.back() == "[redacted]");
  CHECK(many.front() == std::string(1000, 'y'));
}
