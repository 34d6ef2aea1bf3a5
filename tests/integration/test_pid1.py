"""deathwatch as PID 1 of a new pid namespace (a container's init): orphans are reaped (no
zombie is left), and SIGTERM from outside is forwarded to the command. (The eBPF backend
refuses a child pid namespace, so ptrace does the work here in both modes.)"""
from dwtest import *

require_root()
if not have("unshare"):
    skip("unshare (util-linux) not installed")
out = os.path.join(workdir(), "cert.json")
script = "(sleep 0.2 &); sleep 1; echo zombies=$(ps -eo stat= | grep -c '^Z'); exec sleep 300"
proc = subprocess.Popen(["unshare", "--pid", "--fork", "--mount-proc", DEATHWATCH, "-o", out, "--", "sh", "-c", script],
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
line = proc.stdout.readline().decode().strip()
check(line == "zombies=0", f"the orphaned sleep was reaped by deathwatch as PID 1 ({line})")
init = wait_until(lambda: next(iter(children_of(proc.pid)), None), what="deathwatch (pid 1 inside)")
check(proc_comm(init) == "deathwatch", "deathwatch is the namespace's init")
os.kill(init, signal.SIGTERM)
_, err = proc.communicate(timeout=30)
print(err.decode())
check(proc.returncode in (143, -signal.SIGTERM), f"the command ended by the forwarded SIGTERM ({proc.returncode})")
with open(out) as f:
    cert = json.load(f)
check(cert["process"]["pid"] == 2, "the command is pid 2 inside")
check(cert["outcome"]["signal"] == "SIGTERM", f"killed by SIGTERM ({cert['outcome']})")
term = [s for s in cert["signals"] if s["signal"] == "SIGTERM"]
check(len(term) == 1 and "forwarded_from" in term[0], "recorded as forwarded by deathwatch")
check(term[0]["forwarded_from"]["pid"] is None and "outside" in (term[0]["forwarded_from"]["note"] or ""),
      "its sender is outside the namespace: no pid invented")
