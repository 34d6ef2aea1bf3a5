"""Started with stdout and stderr closed, deathwatch keeps its own descriptors (signalfd,
event log) off 1 and 2: the command still sees them closed, the report goes nowhere instead
of into FILE.events, and the event log holds only JSON lines."""
from dwtest import *

wd = workdir()
out = os.path.join(wd, "cl.json")
probe = os.path.join(wd, "fds")
script = (f"ls /proc/$$/fd > {probe}; kill -USR1 $$")
proc = subprocess.run(f"{DEATHWATCH} -o {out} -- bash -c '{script}' >&- 2>&-", shell=True, timeout=60)
check(proc.returncode == -signal.SIGUSR1 or proc.returncode == 128 + signal.SIGUSR1,
      f"mirrored SIGUSR1 ({proc.returncode})")
fds = sorted(int(x) for x in open(probe).read().split())
check(1 not in fds and 2 not in fds, f"the command saw stdout and stderr closed ({fds})")
cert = load(out)
check(cert["final"] and cert["outcome"]["signal"] == "SIGUSR1", "final certificate")
with open(out + ".events") as f:
    lines = f.read().splitlines()
check(len(lines) >= 1, "the signal is in the event log")
for line in lines:
    json.loads(line)  # raises (fails the test) on a report line
check(all(line.startswith("{") for line in lines), "the event log holds JSON lines only")
