"""A descendant in a child pid namespace receives SIGTERM from a process in deathwatch's own
namespace (issue 8 item 11). In the receiver's namespace the sender has no pid (si_pid 0):
the certificate must say the sender is outside the *receiver's* namespace, never "outside
deathwatch's" (it is in deathwatch's own). With eBPF the kernel names it outright."""
from dwtest import *

require_root()
if not have("unshare"):
    skip("unshare (util-linux) not installed")
out = os.path.join(workdir(), "cert.json")
dw = start(["unshare", "--pid", "--fork", "sh", "-c", "sleep 30 & wait $!; exit $?"], output=out,
           stderr=subprocess.PIPE)


def find_sleep():
    for unshare in children_of(dw.pid):
        for init in children_of(unshare):
            for child in children_of(init):
                if proc_comm(child) == "sleep":
                    return child
    return None


sleeper = wait_until(find_sleep, what="the sleep inside the new pid namespace")
time.sleep(0.2)  # let the tracer settle on the new process
os.kill(sleeper, signal.SIGTERM)
_, err = dw.communicate(timeout=30)
print(err.decode())
cert = load(out)
dead = [d for d in cert["descendants"] if d["pid"] == sleeper]
check(len(dead) == 1 and dead[0]["outcome"]["signal"] == "SIGTERM", "the sleep died of SIGTERM")
cause = dead[0]["cause"]
check("deathwatch's pid namespace" not in cause["summary"], f"no false namespace claim ({cause['summary']})")
sender = cause["sender"]
if MODE == "kernel":
    check(sender["pid"] == os.getpid(), f"eBPF names the sender, this test (pid {os.getpid()})")
else:
    check(sender["pid"] is None, "si_pid 0: no pid invented")
    check("outside the receiver's pid namespace" in cause["summary"],
          f"the sender is outside the receiver's namespace ({cause['summary']})")
