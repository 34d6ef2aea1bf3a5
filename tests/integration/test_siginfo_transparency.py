"""A SIGUSR1/SIGUSR2 handler sees the same si_signo/si_code/si_pid/si_uid/si_value with
and without deathwatch (kill from this test, sigqueue from a helper)."""
from dwtest import *

queue = program("send_sigqueue")


def exercise(prefix):
    proc = subprocess.Popen(prefix + [program("siginfo_report"), "2"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL)
    if proc.stdout.readline().strip() != b"ready":
        fail("target did not start")
    target = proc.pid if not prefix else target_of(proc.pid)
    os.kill(target, signal.SIGUSR1)
    time.sleep(0.2)
    sender = subprocess.Popen([queue, str(target), str(int(signal.SIGUSR2)), "4242", "300"])
    out, _ = proc.communicate(timeout=30)
    sender.wait()
    lines = out.decode().split()
    # Replace the pids by roles: the test, or the sigqueue helper.
    return out.decode().replace(str(os.getpid()), "TEST").replace(str(sender.pid), "SENDER"), proc.returncode


bare, bare_rc = exercise([])
cert = os.path.join(workdir(), "cert.json")
watched, watched_rc = exercise([DEATHWATCH, "-q", "-o", cert, "--"])
print("bare:   ", bare.replace("\n", " | "))
print("watched:", watched.replace("\n", " | "))
check(bare_rc == 0 and watched_rc == 0, "both runs exit 0")
check(bare == watched, "the handler saw identical siginfo with and without deathwatch")
check("SENDER" in watched and "4242" in watched and "TEST" in watched, "pids and value present")
c = load(cert)
q = [s for s in c["signals"] if s["code"] == "SI_QUEUE"]
check(len(q) == 1 and q[0]["signal"] == "SIGUSR2", "SI_QUEUE SIGUSR2 recorded")
u = [s for s in c["signals"] if s["code"] == "SI_USER"]
check(len(u) == 1 and u[0]["sender"]["pid"] == os.getpid(), "SI_USER SIGUSR1 from this test")
