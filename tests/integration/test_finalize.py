"""`deathwatch finalize FILE` (ExecStopPost=) after systemd's stop escalation: SIGTERM to the
service (the command ignores it), then SIGKILL to the whole cgroup, deathwatch included. The
certificate left `running` is completed from $SERVICE_RESULT/$EXIT_CODE/$EXIT_STATUS and what
it already holds (the SIGTERM and its sender), marked final with how it was completed; run
again, it changes nothing. A file that is not a certificate: one line, exit 125."""
from dwtest import *

wd = workdir()
out = os.path.join(wd, "svc.json")
dw = start(["sh", "-c", "trap '' TERM; while :; do sleep 0.1; done"], output=out, stderr=subprocess.DEVNULL)
target = target_of(dw.pid, "sh")
time.sleep(0.3)
stopper = subprocess.Popen(["sh", "-c", f"kill -TERM {target}; sleep 1"])  # systemd's SIGTERM
wait_until(lambda: "SIGTERM" in open(out + ".events").read(), what="the SIGTERM on disk")
# TimeoutStopSec= ran out: SIGKILL to every process of the unit, the watcher first.
os.kill(dw.pid, signal.SIGKILL)
os.kill(target, signal.SIGKILL)
dw.wait(timeout=10)
stopper.wait()
check(load(out)["state"] == "running", "the watcher died: the certificate says running")

env = dict(os.environ, SERVICE_RESULT="timeout", EXIT_CODE="killed", EXIT_STATUS="KILL")
r = subprocess.run([DEATHWATCH, "finalize", out], env=env, capture_output=True, text=True, timeout=30)
print(r.stderr)
check(r.returncode == 0, f"finalize exits 0 ({r.returncode})")
cert = load(out)
check(cert["final"] and cert["state"] == "final", "now final")
check(cert["outcome"]["kind"] == "killed" and cert["outcome"]["signal"] == "SIGKILL", f"outcome: SIGKILL ({cert['outcome']})")
c = cert["cause"]
check(c["category"] == "signal" and "stop escalation" in c["summary"] and f"pid {stopper.pid}" in c["summary"],
      f"the cause names systemd's stop timeout and the SIGTERM's sender ({c['summary']})")
check(c["sender"] and c["sender"]["pid"] == stopper.pid, "the SIGTERM's sender, from what the file held")
check(any("SERVICE_RESULT=timeout" in e for e in c["evidence"]), "systemd's words in the evidence")
check(cert["finalized_by"]["service_result"] == "timeout", "finalized_by says how it was completed")
check(any("completed by deathwatch finalize" in w for w in cert["watcher"]["warnings"]), "and so does a warning")
check(oct(os.stat(out).st_mode & 0o777) == "0o640", "the file keeps its mode")

before = open(out, "rb").read()
r = subprocess.run([DEATHWATCH, "finalize", out], env=dict(env, EXIT_CODE="exited", EXIT_STATUS="0"),
                   capture_output=True, text=True, timeout=30)
check(r.returncode == 0 and open(out, "rb").read() == before and "already final" in r.stderr,
      "finalize on a final certificate changes nothing")

# A clean run's certificate: already final, untouched.
clean = os.path.join(wd, "clean.json")
run(["true"], output=clean)
before = open(clean, "rb").read()
r = subprocess.run([DEATHWATCH, "finalize", clean], env=env, capture_output=True, timeout=30)
check(r.returncode == 0 and open(clean, "rb").read() == before, "a final certificate from a normal run is untouched")

bogus = os.path.join(wd, "bogus.json")
open(bogus, "w").write('{"hello": 1}')
r = subprocess.run([DEATHWATCH, "finalize", bogus], capture_output=True, text=True, timeout=30)
check(r.returncode == 125 and len(r.stderr.strip().splitlines()) == 1, f"not a certificate: one line, 125 ({r.stderr.strip()})")

# `deathwatch -- finalize` runs a program of that name.
bindir = tempfile.mkdtemp(dir=wd)
with open(os.path.join(bindir, "finalize"), "w") as f:
    f.write("#!/bin/sh\nexit 42\n")
os.chmod(os.path.join(bindir, "finalize"), 0o755)
r = subprocess.run([DEATHWATCH, "-q", "--", "finalize"], env=dict(os.environ, PATH=bindir + ":" + os.environ["PATH"]),
                   capture_output=True, timeout=30)
check(r.returncode == 42, f"`deathwatch -- finalize` runs a program named finalize ({r.returncode})")
