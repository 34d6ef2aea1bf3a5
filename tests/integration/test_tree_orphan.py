"""A parent that exits and leaves a child running: deathwatch keeps watching the orphan
(it is the child subreaper), records its later death by SIGTERM with the sender, then ends
with the parent's exit status."""
from dwtest import *

out = os.path.join(workdir(), "cert.json")
dw = start(["bash", "-c", "sleep 300 & echo $! ; exit 0"], output=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
orphan = int(dw.stdout.readline())
wait_until(lambda: load(out)["final"], what="the parent's end in the certificate")
check(dw.poll() is None, "deathwatch still runs after the parent exited")
# `$!` is printed when the child is forked, maybe before it exec'd sleep.
check(wait_until(lambda: proc_comm(orphan) == "sleep", 10, "the orphan's exec"), "the orphan lives")
with open(f"/proc/{orphan}/stat") as f:
    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
check(ppid == dw.pid, f"the orphan was reparented to deathwatch, the subreaper ({ppid})")
cert = load(out)
check(cert["outcome"]["exit_code"] == 0 and cert["descendants_summary"]["alive"] == 1, "parent done, one alive")
# A signal to deathwatch while only orphans remain ends nothing and costs nothing.
def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])
before = cpu_ticks(dw.pid)
os.kill(dw.pid, signal.SIGUSR1)
time.sleep(1)
used = cpu_ticks(dw.pid) - before
check(used < 20, f"deathwatch idle while it waits for the orphan ({used} ticks in 1 s)")
check(dw.poll() is None, "still watching")
sender = subprocess.Popen(["bash", "-c", f"kill -TERM {orphan}; sleep 1; true"])
_, err = dw.communicate(timeout=30)
sender.wait()
print(err.decode())
check(dw.returncode == 0, f"deathwatch ends with the parent's status 0 ({dw.returncode})")
cert = load(out)
o = [x for x in cert["descendants"] if x["pid"] == orphan]
check(len(o) == 1 and o[0]["outcome"]["signal"] == "SIGTERM", "the orphan's death is recorded")
check(o[0]["cause"]["sender"]["pid"] == sender.pid, "with its sender")
check(cert["descendants_summary"]["alive"] == 0, "nothing left alive")
