"""deathwatch itself SIGKILLed mid-watch: the command keeps running (not stopped, not
killed), and the certificate left behind is valid JSON saying "state": "running" with the
dead watcher's pid, and the signal seen before the kill is on disk. With --kill-with-watcher
the command dies with deathwatch instead."""
import atexit

from dwtest import *

wd = workdir()
LOOP = "trap : USR1; while :; do sleep 0.05; done"


def watched(name, extra=()):
    out = os.path.join(wd, name + ".json")
    dw = start(["sh", "-c", LOOP], output=out, extra=extra)
    target = target_of(dw.pid, "sh")
    wait_until(lambda: os.path.exists(out + ".events"), what="event log created")
    time.sleep(0.3)  # the backend attached and the loop running
    os.kill(target, signal.SIGUSR1)
    wait_until(lambda: "SIGUSR1" in open(out + ".events").read(), what="SIGUSR1 in the event log")
    os.kill(dw.pid, signal.SIGKILL)
    dw.wait(timeout=10)
    return out, dw.pid, target


out, dw_pid, target = watched("default")
# On a failed check too: a command left running holds CTest's output pipe (a 300 s timeout).
atexit.register(lambda: os.kill(target, signal.SIGKILL) if proc_state(target) not in (None, "Z") else None)
time.sleep(0.5)
state = proc_state(target)
# Alive and neither stopped nor traced: R, S or, for an instant inside a fork or a page fault, D.
RUNNING = ("R", "S", "D")
check(state in RUNNING, f"the command runs on after deathwatch's SIGKILL (state {state})")
cert = load(out)
check(cert["state"] == "running" and not cert["final"], "the certificate says running")
check(cert["watcher"]["pid"] == dw_pid and not os.path.exists(f"/proc/{dw_pid}"),
      "and names its watcher, which is gone: a reader can tell it is stale")
with open(out + ".events") as f:
    check(any(json.loads(l)["signal"] == "SIGUSR1" for l in f), "the SIGUSR1 seen before is on disk")
os.kill(target, signal.SIGUSR1)  # it still handles signals as before: not stopped, not traced
time.sleep(0.2)
state = proc_state(target)
check(state in RUNNING, f"and still handles its signals as without deathwatch (state {state})")
os.kill(target, signal.SIGKILL)

out, dw_pid, target = watched("with", extra=["--kill-with-watcher"])
wait_until(lambda: proc_state(target) in (None, "Z", "X"), timeout=10,
           what="the command killed with its watcher")
check(True, "--kill-with-watcher: the command died with deathwatch")
check(load(out)["state"] == "running", "--kill-with-watcher: the certificate says running")
