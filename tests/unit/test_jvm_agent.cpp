// The Java agent's pure parts (src/jvm_attach.cpp, src/jvm_agent.cpp): JVM facts to an
// obstacle, attach readiness, HotSpot's attach reply, and the agent's report to Java last
// words. The reports are the ones the agent wrote on OpenJDK 17.0.15 (tests/java/SelfKill).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "deathwatch/jvm_agent.h"

using namespace deathwatch;

namespace {

const char* kExitReport =
    "deathwatch-agent\t1\n"
    "thread\tmain\n"
    "kind\texit\n"
    "frame\tjava.lang.Object.wait(Native Method)\n"
    "frame\tjava.lang.Thread.join(Thread.java:1313)\n"
    "frame\tjava.lang.Thread.join(Thread.java:1381)\n"
    "frame\tjava.lang.ApplicationShutdownHooks.runHooks(ApplicationShutdownHooks.java:107)\n"
    "frame\tjava.lang.ApplicationShutdownHooks$1.run(ApplicationShutdownHooks.java:46)\n"
    "frame\tjava.lang.Shutdown.runHooks(Shutdown.java:130)\n"
    "frame\tjava.lang.Shutdown.exit(Shutdown.java:173)\n"
    "frame\tjava.lang.Runtime.exit(Runtime.java:115)\n"
    "frame\tjava.lang.System.exit(System.java:1877)\n"
    "frame\tSelfKill.main(SelfKill.java:8)\n";

const char* kSignalReport =
    "deathwatch-agent\t1\n"
    "thread\tSIGTERM handler\n"
    "kind\tsignal\n"
    "frame\tjava.lang.Object.wait(Native Method)\n"
    "frame\tjava.lang.Shutdown.runHooks(Shutdown.java:130)\n"
    "frame\tjava.lang.Shutdown.exit(Shutdown.java:173)\n"
    "frame\tjava.lang.Terminator$1.handle(Terminator.java:51)\n"
    "frame\tjdk.internal.misc.Signal$1.run(Signal.java:219)\n"
    "frame\tjava.lang.Thread.run(Thread.java:840)\n";

const char* kReturnReport =
    "deathwatch-agent\t1\n"
    "thread\tDestroyJavaVM\n"
    "kind\tmain-returned\n"
    "frame\tjava.lang.Object.wait(Native Method)\n"
    "frame\tjava.lang.Shutdown.runHooks(Shutdown.java:130)\n"
    "frame\tjava.lang.Shutdown.shutdown(Shutdown.java:185)\n";

JvmFacts hotspot17() {
  JvmFacts facts;
  facts.has_libjvm = true;
  facts.java_home = "/usr/lib/jvm/java-17-openjdk-amd64";
  facts.release = "JAVA_VERSION=\"17.0.15\"\nMODULES=\"java.base java.instrument java.logging\"\n";
  facts.options = {"-cp", "/app", "Main"};
  return facts;
}

}  // namespace

TEST_CASE("java_major_version: modern and 1.x numbering") {
  CHECK(java_major_version("IMPLEMENTOR=\"Debian\"\nJAVA_VERSION=\"17.0.15\"\n") == 17);
  CHECK(java_major_version("JAVA_VERSION=\"1.8.0_392\"\n") == 8);
  CHECK(java_major_version("JAVA_VERSION=\"21\"\n") == 21);
  CHECK_FALSE(java_major_version("IMPLEMENTOR=\"x\"\n").has_value());
}

TEST_CASE("hotspot_flag: the last occurrence wins, -Xrs is ReduceSignalUsage") {
  CHECK_FALSE(hotspot_flag({"-Xmx1g"}, "DisableAttachMechanism").has_value());
  CHECK(hotspot_flag({"-XX:+DisableAttachMechanism"}, "DisableAttachMechanism") == true);
  CHECK(hotspot_flag({"-XX:+DisableAttachMechanism", "-XX:-DisableAttachMechanism"},
                     "DisableAttachMechanism") == false);
  CHECK(hotspot_flag({"-Xrs"}, "ReduceSignalUsage") == true);
}

TEST_CASE("jvm_attach_obstacle: a plain JDK 17 may be attached") {
  CHECK_FALSE(jvm_attach_obstacle(hotspot17()).has_value());
}

TEST_CASE("jvm_attach_obstacle: each refusal names its reason") {
  auto facts = hotspot17();
  SUBCASE("not a JVM") {
    facts.has_libjvm = false;
    CHECK(jvm_attach_obstacle(facts)->find("not a HotSpot JVM") == 0);
  }
  SUBCASE("OpenJ9") {
    facts.openj9 = true;
    CHECK(jvm_attach_obstacle(facts)->find("OpenJ9") != std::string::npos);
  }
  SUBCASE("JDK 21 without -XX:+EnableDynamicAgentLoading, and with it") {
    facts.release = "JAVA_VERSION=\"21.0.2\"\n";
    CHECK(jvm_attach_obstacle(facts)->find("JDK 21 would print a warning") == 0);
    facts.options.push_back("-XX:+EnableDynamicAgentLoading");
    CHECK_FALSE(jvm_attach_obstacle(facts).has_value());
  }
  SUBCASE("-Xrs, DisableAttachMechanism, -EnableDynamicAgentLoading") {
    for (const char* flag : {"-Xrs", "-XX:+ReduceSignalUsage", "-XX:+DisableAttachMechanism",
                             "-XX:-EnableDynamicAgentLoading"}) {
      auto f = hotspot17();
      f.options.insert(f.options.begin(), flag);
      CHECK_MESSAGE(jvm_attach_obstacle(f).has_value(), flag);
    }
  }
  SUBCASE("another namespace or user") {
    facts.same_mount_namespace = false;
    CHECK(jvm_attach_obstacle(facts)->find("mount namespace") != std::string::npos);
    facts = hotspot17();
    facts.same_pid_namespace = false;
    CHECK(jvm_attach_obstacle(facts)->find("pid namespace") != std::string::npos);
    facts = hotspot17();
    facts.our_euid = 1000;
    facts.jvm_euid = 1001;
    CHECK(jvm_attach_obstacle(facts)->find("another user") != std::string::npos);
  }
  SUBCASE("unknown version, no java.instrument, Java 7") {
    facts.release.reset();
    CHECK(jvm_attach_obstacle(facts)->find("version is unknown") != std::string::npos);
    facts.release = "JAVA_VERSION=\"17\"\nMODULES=\"java.base\"\n";
    CHECK(jvm_attach_obstacle(facts)->find("java.instrument") != std::string::npos);
    facts.release = "JAVA_VERSION=\"1.7.0_80\"\n";
    CHECK(jvm_attach_obstacle(facts)->find("older") != std::string::npos);
  }
}

TEST_CASE("jvm_signal_handlers_ready: SIGQUIT caught and create_vm finished") {
  const std::string caught = "SigIgn:\t0000000000000000\nSigCgt:\t2000000181005ccf\n";  // 17.0.15
  const std::string default_quit = "SigIgn:\t0000000000000000\nSigCgt:\t0000000000000000\n";
  const std::vector<std::string> booting = {"java", "VM Thread", "Signal Dispatch", "Service Thread"};
  const std::vector<std::string> booted = {"java", "VM Thread", "Service Thread", "VM Periodic Tas"};
  CHECK_FALSE(jvm_signal_handlers_ready(default_quit, booted));
  CHECK_FALSE(jvm_signal_handlers_ready(caught, booting));
  CHECK(jvm_signal_handlers_ready(caught, booted));
  CHECK(jvm_signal_handlers_ready(caught, {"java", "java"}));  // JDK 8: unnamed threads
}

TEST_CASE("parse_attach_reply: JDK 17 and 21+ forms, refusals, agent failures") {
  CHECK(parse_attach_reply("0\n0\n").ok());
  CHECK(parse_attach_reply("0\nreturn code: 0\n").ok());
  CHECK_FALSE(parse_attach_reply("").ok());
  const auto refused = parse_attach_reply("-1\njava.lang.NullPointerException\n");
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().message.find("NullPointerException") != std::string::npos);
  const auto failed = parse_attach_reply("0\n-1\n");
  REQUIRE_FALSE(failed.ok());
  CHECK(failed.error().message.find("returned -1") != std::string::npos);
  CHECK_FALSE(parse_attach_reply("101\n").ok());  // ATTACH_ERROR_BADVERSION
}

TEST_CASE("parse_agent_report: System.exit names its caller, waiting frames dropped") {
  const auto words = parse_agent_report(kExitReport, 4, std::nullopt);
  REQUIRE(words.has_value());
  CHECK(words->thread == "main");
  CHECK(words->reason == "System.exit(4) called from SelfKill.main(SelfKill.java:8)");
  CHECK(words->stack == std::vector<std::string>{"java.lang.System.exit(System.java:1877)",
                                                 "SelfKill.main(SelfKill.java:8)"});
  CHECK(parse_agent_report(kExitReport, std::nullopt, std::nullopt)->reason ==
        "System.exit called from SelfKill.main(SelfKill.java:8)");
}

TEST_CASE("parse_agent_report: Runtime.getRuntime().exit is named as such") {
  const std::string report =
      "deathwatch-agent\t1\nthread\tworker-1\nkind\texit\n"
      "frame\tjava.lang.Shutdown.exit(Shutdown.java:173)\n"
      "frame\tjava.lang.Runtime.exit(Runtime.java:115)\n"
      "frame\tcom.example.Job.run(Job.java:42)\n";
  const auto words = parse_agent_report(report, 3, std::nullopt);
  REQUIRE(words.has_value());
  CHECK(words->reason == "Runtime.exit(3) called from com.example.Job.run(Job.java:42)");
  CHECK(words->stack.front() == "java.lang.Runtime.exit(Runtime.java:115)");
}

TEST_CASE("parse_agent_report: the signal handler thread") {
  const auto words = parse_agent_report(kSignalReport, 143, std::nullopt);
  REQUIRE(words.has_value());
  CHECK(words->thread == "SIGTERM handler");
  CHECK(words->reason == "SIGTERM: the JVM's \"SIGTERM handler\" thread began the shutdown");
  CHECK(words->stack.front() == "java.lang.Shutdown.exit(Shutdown.java:173)");
  CHECK(words->stack.back() == "java.lang.Thread.run(Thread.java:840)");
}

TEST_CASE("parse_agent_report: main returned") {
  const auto words = parse_agent_report(kReturnReport, 0, std::nullopt);
  REQUIRE(words.has_value());
  CHECK(words->thread == "DestroyJavaVM");
  CHECK(words->reason == "main returned: DestroyJavaVM began the shutdown");
  CHECK(words->stack == std::vector<std::string>{"java.lang.Shutdown.shutdown(Shutdown.java:185)"});
}

TEST_CASE("parse_agent_report: no thread, a foreign file, an empty one") {
  CHECK_FALSE(parse_agent_report("deathwatch-agent\t1\nkind\tunknown\n", 0, std::nullopt).has_value());
  CHECK_FALSE(parse_agent_report("root:x:0:0:root:/root:/bin/bash\n", 0, std::nullopt).has_value());
  CHECK_FALSE(parse_agent_report("", std::nullopt, std::nullopt).has_value());
}
