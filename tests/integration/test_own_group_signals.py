"""A command that signals its own process group (kill 0, SIGIO from F_SETOWN, timers) also
signals deathwatch: deathwatch must survive every catchable signal, not forward a second
copy of one the command already got, and leave a final certificate. The review saw SIGPWR,
SIGIO, SIGPROF, SIGVTALRM, SIGXCPU, SIGSYS, SIGTRAP and the real-time signals end
deathwatch (158, 162, ...) with the command orphaned and the certificate not final."""
from dwtest import *

names = ["PWR", "IO", "PROF", "VTALRM", "XCPU", "SYS", "TRAP", "URG", "WINCH", "TERM", "USR1",
         "RTMIN", "RTMIN+3", "RTMAX"]
wd = workdir()
for name in names:
    out = os.path.join(wd, f"{name}.json")
    # setsid: the command's group is deathwatch's alone, not this test's.
    proc = subprocess.run(["setsid", "-w", DEATHWATCH, "-q", "-o", out, "--", "bash", "-c",
                           f"trap 'echo got' {name}; kill -s {name} 0; sleep .3; echo done"],
                          capture_output=True, timeout=60)
    lines = proc.stdout.decode().split()
    check(proc.returncode == 0 and lines == ["got", "done"],
          f"SIG{name} to the group: deathwatch survives, handled once ({proc.returncode}, {lines})")
    check(load(out)["final"], f"SIG{name}: the certificate is final")

# glibc's internal signals (32, 33) kill bash as they would bare; deathwatch mirrors that
# death instead of dying of its own copy first.
for signo in (32, 33):
    out = os.path.join(wd, f"{signo}.json")
    proc = subprocess.run(["setsid", "-w", DEATHWATCH, "-q", "-o", out, "--", "bash", "-c",
                           f"kill -s {signo} 0; sleep .3"], capture_output=True, timeout=60)
    cert = load(out)
    check(cert["final"] and cert["outcome"]["signal"] == f"SIG{signo}",
          f"signal {signo}: final certificate, the command's death recorded ({cert['outcome']})")
    check(proc.returncode in (-signo, 128 + signo), f"signal {signo}: mirrored ({proc.returncode})")
