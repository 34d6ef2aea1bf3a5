// install-unit (src/unit_install.cpp): reading `systemctl show`'s Exec lines, quoting words
// for a unit file, and the drop-in's shape.
#include <doctest/doctest.h>

#include "deathwatch/unit_install.h"

using namespace deathwatch;

TEST_CASE("exec commands: path, argv (argv[0] may hold spaces) and flags") {
  const auto cmds = parse_exec_commands(
      "{ path=/opt/my app/run ; argv[]=/opt/my app/run -a b ; flags=ignore-failure,privileged ; start_time=[n/a] ; pid=0 }\n"
      "{ path=/bin/x ; argv[]=/bin/x ; ignore_errors=yes ; }\n");
  REQUIRE(cmds.size() == 2);
  CHECK(cmds[0].path == "/opt/my app/run");
  CHECK(cmds[0].argv == std::vector<std::string>{"/opt/my app/run", "-a", "b"});
  CHECK(cmds[0].flags == std::vector<std::string>{"ignore-failure", "privileged"});
  CHECK(cmds[1].ignore_errors);
  CHECK(parse_exec_commands("").empty());
  CHECK(parse_exec_commands("{ unterminated").empty());
}

TEST_CASE("unit-file words: quotes, backslashes and specifiers escaped") {
  CHECK(quote_unit_word("plain") == "\"plain\"");
  CHECK(quote_unit_word("a \"b\" \\c 50%") == "\"a \\\"b\\\" \\\\c 50%%\"");
}

TEST_CASE("the drop-in: empty ExecStart= first, prefixes kept, finalize after stop") {
  ExecCommand cmd;
  cmd.path = "/usr/bin/app";
  cmd.argv = {"/usr/bin/app", "--x"};
  cmd.flags = {"ignore-failure", "privileged"};
  const std::string text = render_drop_in("app.service", cmd, "/usr/bin/deathwatch");
  CHECK(text.find("\nExecStart=\nExecStart=-+\"/usr/bin/deathwatch\" -o \"/var/lib/deathwatch/app.service.json\" -- "
                  "\"/usr/bin/app\" \"--x\"\n") != std::string::npos);
  CHECK(text.find("ExecStopPost=\"/usr/bin/deathwatch\" finalize \"/var/lib/deathwatch/app.service.json\"") !=
        std::string::npos);
}

TEST_CASE("the drop-in of a service with its own user: a state directory of its own") {
  ExecCommand cmd;
  cmd.path = "/bin/sh";
  cmd.argv = {"/bin/sh", "-c", "trap '' TERM; exec sleep 1"};
  const std::string text = render_drop_in("web.service", cmd, "/usr/bin/deathwatch", true);
  CHECK(text.find("\nStateDirectory=\"deathwatch/web.service\"\n") != std::string::npos);
  CHECK(text.find("-o \"/var/lib/deathwatch/web.service/web.service.json\" -- \"/bin/sh\" \"-c\" "
                  "\"trap '' TERM; exec sleep 1\"\n") != std::string::npos);
  CHECK(text.find("finalize \"/var/lib/deathwatch/web.service/web.service.json\"") != std::string::npos);
  CHECK(render_drop_in("web.service", cmd, "/usr/bin/deathwatch").find("StateDirectory") == std::string::npos);
}
