"""SIGSTOP and SIGCONT from outside: the target stops and resumes exactly as without
deathwatch (which keeps running, so it can be killed while stopped), and both are recorded."""
from dwtest import *

out = os.path.join(workdir(), "cert.json")
dw = start(["sleep", "300"], output=out, stderr=subprocess.DEVNULL)
target = target_of(dw.pid, "sleep")
os.kill(target, signal.SIGSTOP)
wait_until(lambda: proc_state(target) in ("T", "t"), what="target stopped")
time.sleep(0.2)
check(proc_state(target) in ("T", "t"), "target stays stopped (PTRACE_LISTEN, not PTRACE_CONT)")
# Sampled for a while: deathwatch may be running (R) at any instant, never stopped (T).
states = set()
for _ in range(25):
    states.add(proc_state(dw.pid))
    time.sleep(0.01)
check(not states & {"T", "t"}, f"deathwatch itself is not stopped ({sorted(states)})")
os.kill(target, signal.SIGCONT)
wait_until(lambda: proc_state(target) == "S", what="target running again")
os.kill(target, signal.SIGTERM)
dw.wait(timeout=30)
cert = load(out)
for name in ("SIGSTOP", "SIGCONT", "SIGTERM"):
    recs = signals_named(cert, name)
    check(len(recs) == 1 and recs[0]["sender"]["pid"] == os.getpid(), f"{name} from this test recorded")
check(cert["cause"]["signal"] == "SIGTERM", "cause is the SIGTERM")
