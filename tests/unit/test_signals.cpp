// Signal names, si_code names and siginfo origin classification (src/signals.cpp).
#include <doctest/doctest.h>

#include <signal.h>

#include <set>
#include <string>

#include "deathwatch/signals.h"

using namespace deathwatch;

TEST_CASE("signal_name: classic signals use the C library's abbreviations") {
  CHECK(signal_name(SIGHUP) == "SIGHUP");
  CHECK(signal_name(SIGINT) == "SIGINT");
  CHECK(signal_name(SIGKILL) == "SIGKILL");
  CHECK(signal_name(SIGSEGV) == "SIGSEGV");
  CHECK(signal_name(SIGTERM) == "SIGTERM");
  CHECK(signal_name(SIGABRT) == "SIGABRT");
  CHECK(signal_name(SIGCHLD) == "SIGCHLD");
  CHECK(signal_name(SIGSYS) == "SIGSYS");
}

TEST_CASE("signal_name: real-time signals are named relative to SIGRTMIN") {
  CHECK(signal_name(SIGRTMIN) == "SIGRTMIN");
  CHECK(signal_name(SIGRTMIN + 1) == "SIGRTMIN+1");
  CHECK(signal_name(SIGRTMIN + 3) == "SIGRTMIN+3");
  CHECK(signal_name(SIGRTMAX) == "SIGRTMIN+" + std::to_string(SIGRTMAX - SIGRTMIN));
}

TEST_CASE("signal_name: numbers the C library does not name are SIG<n>") {
  CHECK(signal_name(0) == "SIG0");
  CHECK(signal_name(SIGRTMAX + 1) == "SIG" + std::to_string(SIGRTMAX + 1));
  CHECK(signal_name(-5) == "SIG-5");
}

TEST_CASE("signal_name and signal_from_name round-trip for every signal 1..SIGRTMAX") {
  std::set<std::string> names;
  for (int signo = 1; signo <= SIGRTMAX; ++signo) {
    CAPTURE(signo);
    const std::string name = signal_name(signo);
    CHECK(name.rfind("SIG", 0) == 0);
    names.insert(name);
    const auto back = signal_from_name(name);
    REQUIRE(back.has_value());
    CHECK(*back == signo);
  }
  // Every number has its own name.
  CHECK(names.size() == static_cast<std::size_t>(SIGRTMAX));
}

TEST_CASE("signal_from_name accepts the documented spellings") {
  CHECK(signal_from_name("SIGTERM") == SIGTERM);
  CHECK(signal_from_name("TERM") == SIGTERM);
  CHECK(signal_from_name("term") == SIGTERM);
  CHECK(signal_from_name("sigkill") == SIGKILL);
  CHECK(signal_from_name("15") == 15);
  CHECK(signal_from_name("9") == SIGKILL);
  CHECK(signal_from_name("SIGRTMIN+2") == SIGRTMIN + 2);
  CHECK(signal_from_name("rtmin+2") == SIGRTMIN + 2);
  CHECK(signal_from_name("SIGRTMIN") == SIGRTMIN);
  CHECK(signal_from_name(std::to_string(SIGRTMAX)) == SIGRTMAX);
}

TEST_CASE("signal_from_name rejects what is not a signal") {
  CHECK_FALSE(signal_from_name("").has_value());
  CHECK_FALSE(signal_from_name("0").has_value());
  CHECK_FALSE(signal_from_name(std::to_string(SIGRTMAX + 1)).has_value());
  CHECK_FALSE(signal_from_name("SIGFOO").has_value());
  CHECK_FALSE(signal_from_name("FOO").has_value());
  CHECK_FALSE(signal_from_name("-9").has_value());
  CHECK_FALSE(signal_from_name("SIG").has_value());
  CHECK_FALSE(signal_from_name("SIGRTMIN+999").has_value());
}

TEST_CASE("si_code_name: signal-specific positive codes") {
  CHECK(si_code_name(SIGSEGV, SEGV_MAPERR) == "SEGV_MAPERR");
  CHECK(si_code_name(SIGSEGV, SEGV_ACCERR) == "SEGV_ACCERR");
  CHECK(si_code_name(SIGBUS, BUS_ADRALN) == "BUS_ADRALN");
  CHECK(si_code_name(SIGFPE, FPE_INTDIV) == "FPE_INTDIV");
  CHECK(si_code_name(SIGILL, ILL_ILLOPC) == "ILL_ILLOPC");
  CHECK(si_code_name(SIGTRAP, TRAP_BRKPT) == "TRAP_BRKPT");
  CHECK(si_code_name(SIGCHLD, CLD_EXITED) == "CLD_EXITED");
  CHECK(si_code_name(SIGCHLD, CLD_KILLED) == "CLD_KILLED");
  CHECK(si_code_name(SIGCHLD, CLD_DUMPED) == "CLD_DUMPED");
  CHECK(si_code_name(SIGPOLL, POLL_IN) == "POLL_IN");
  CHECK(si_code_name(SIGSYS, 1) == "SYS_SECCOMP");
}

TEST_CASE("si_code_name: the same positive number means different things per signal") {
  // SEGV_MAPERR, CLD_EXITED, FPE_INTDIV, ILL_ILLOPC and BUS_ADRALN are all 1.
  REQUIRE(SEGV_MAPERR == CLD_EXITED);
  CHECK(si_code_name(SIGSEGV, 1) == "SEGV_MAPERR");
  CHECK(si_code_name(SIGCHLD, 1) == "CLD_EXITED");
  CHECK(si_code_name(SIGFPE, 1) == "FPE_INTDIV");
  CHECK(si_code_name(SIGBUS, 1) == "BUS_ADRALN");
  CHECK(si_code_name(SIGILL, 1) == "ILL_ILLOPC");
}

TEST_CASE("si_code_name: generic codes shared by all signals") {
  CHECK(si_code_name(SIGTERM, SI_USER) == "SI_USER");
  CHECK(si_code_name(SIGTERM, SI_TKILL) == "SI_TKILL");
  CHECK(si_code_name(SIGUSR1, SI_QUEUE) == "SI_QUEUE");
  CHECK(si_code_name(SIGALRM, SI_TIMER) == "SI_TIMER");
  CHECK(si_code_name(SIGINT, SI_KERNEL) == "SI_KERNEL");
  // SI_KERNEL is positive (0x80) but still generic, even for fault signals.
  CHECK(si_code_name(SIGSEGV, SI_KERNEL) == "SI_KERNEL");
  CHECK(si_code_name(SIGSEGV, SI_USER) == "SI_USER");
  CHECK(si_code_name(SIGIO, SI_SIGIO) == "SI_SIGIO");
  CHECK(si_code_name(SIGUSR1, SI_MESGQ) == "SI_MESGQ");
  CHECK(si_code_name(SIGIO, SI_ASYNCIO) == "SI_ASYNCIO");
}

TEST_CASE("si_code_name: unknown codes are printed in decimal") {
  CHECK(si_code_name(SIGSEGV, 99) == "99");
  CHECK(si_code_name(SIGTERM, 1) == "1");  // no signal-specific codes for SIGTERM
  CHECK(si_code_name(SIGTERM, -99) == "-99");
  CHECK(si_code_name(SIGCHLD, 42) == "42");
  CHECK(si_code_name(SIGKILL, 7) == "7");
}

TEST_CASE("classify_origin") {
  SUBCASE("codes that name a sending process") {
    CHECK(classify_origin(SIGTERM, SI_USER) == SignalOrigin::Process);
    CHECK(classify_origin(SIGTERM, SI_TKILL) == SignalOrigin::Process);
    CHECK(classify_origin(SIGUSR1, SI_QUEUE) == SignalOrigin::Process);
    CHECK(classify_origin(SIGUSR1, SI_MESGQ) == SignalOrigin::Process);
    // A kill(SIGSEGV) from another process is still a process-sent signal, not a fault.
    CHECK(classify_origin(SIGSEGV, SI_USER) == SignalOrigin::Process);
  }
  SUBCASE("kernel-made") {
    CHECK(classify_origin(SIGINT, SI_KERNEL) == SignalOrigin::Kernel);
    CHECK(classify_origin(SIGALRM, SI_KERNEL) == SignalOrigin::Kernel);
    CHECK(classify_origin(SIGSEGV, SI_KERNEL) == SignalOrigin::Kernel);
  }
  SUBCASE("timers") { CHECK(classify_origin(SIGALRM, SI_TIMER) == SignalOrigin::Timer); }
  SUBCASE("faults: positive codes on fault signals") {
    CHECK(classify_origin(SIGSEGV, SEGV_MAPERR) == SignalOrigin::Fault);
    CHECK(classify_origin(SIGBUS, BUS_ADRERR) == SignalOrigin::Fault);
    CHECK(classify_origin(SIGILL, ILL_ILLOPC) == SignalOrigin::Fault);
    CHECK(classify_origin(SIGFPE, FPE_INTDIV) == SignalOrigin::Fault);
    CHECK(classify_origin(SIGTRAP, TRAP_BRKPT) == SignalOrigin::Fault);
  }
  SUBCASE("child state changes") {
    CHECK(classify_origin(SIGCHLD, CLD_EXITED) == SignalOrigin::Child);
    CHECK(classify_origin(SIGCHLD, CLD_KILLED) == SignalOrigin::Child);
  }
  SUBCASE("everything else") {
    CHECK(classify_origin(SIGIO, SI_SIGIO) == SignalOrigin::Other);
    CHECK(classify_origin(SIGIO, SI_ASYNCIO) == SignalOrigin::Other);
    CHECK(classify_origin(SIGPOLL, POLL_IN) == SignalOrigin::Other);
    CHECK(classify_origin(SIGSYS, 1 /* SYS_SECCOMP */) == SignalOrigin::Other);
    CHECK(classify_origin(SIGTERM, 5) == SignalOrigin::Other);
  }
}

TEST_CASE("origin_names_sender is true only for Process") {
  CHECK(origin_names_sender(SignalOrigin::Process));
  CHECK_FALSE(origin_names_sender(SignalOrigin::Kernel));
  CHECK_FALSE(origin_names_sender(SignalOrigin::Fault));
  CHECK_FALSE(origin_names_sender(SignalOrigin::Timer));
  CHECK_FALSE(origin_names_sender(SignalOrigin::Child));
  CHECK_FALSE(origin_names_sender(SignalOrigin::Other));
}

TEST_CASE("origin_name") {
  CHECK(std::string(origin_name(SignalOrigin::Process)) == "process");
  CHECK(std::string(origin_name(SignalOrigin::Kernel)) == "kernel");
  CHECK(std::string(origin_name(SignalOrigin::Fault)) == "fault");
  CHECK(std::string(origin_name(SignalOrigin::Timer)) == "timer");
  CHECK(std::string(origin_name(SignalOrigin::Child)) == "child");
  CHECK(std::string(origin_name(SignalOrigin::Other)) == "other");
}

TEST_CASE("is_stop_signal") {
  CHECK(is_stop_signal(SIGSTOP));
  CHECK(is_stop_signal(SIGTSTP));
  CHECK(is_stop_signal(SIGTTIN));
  CHECK(is_stop_signal(SIGTTOU));
  CHECK_FALSE(is_stop_signal(SIGCONT));
  CHECK_FALSE(is_stop_signal(SIGTRAP));
  CHECK_FALSE(is_stop_signal(SIGTERM));
  CHECK_FALSE(is_stop_signal(0));
}

TEST_CASE("is_fault_signal") {
  CHECK(is_fault_signal(SIGSEGV));
  CHECK(is_fault_signal(SIGBUS));
  CHECK(is_fault_signal(SIGILL));
  CHECK(is_fault_signal(SIGFPE));
  CHECK(is_fault_signal(SIGTRAP));
  CHECK_FALSE(is_fault_signal(SIGABRT));
  CHECK_FALSE(is_fault_signal(SIGKILL));
  CHECK_FALSE(is_fault_signal(SIGTERM));
}

TEST_CASE("is_terminating_by_default") {
  for (int signo : {SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGABRT, SIGKILL, SIGSEGV, SIGPIPE, SIGALRM,
                    SIGTERM, SIGUSR1, SIGUSR2, SIGXCPU, SIGSYS, SIGRTMIN, SIGRTMAX}) {
    CAPTURE(signo);
    CHECK(is_terminating_by_default(signo));
  }
  for (int signo : {SIGCHLD, SIGCONT, SIGURG, SIGWINCH, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU}) {
    CAPTURE(signo);
    CHECK_FALSE(is_terminating_by_default(signo));
  }
  CHECK_FALSE(is_terminating_by_default(0));
  CHECK_FALSE(is_terminating_by_default(SIGRTMAX + 1));
}
