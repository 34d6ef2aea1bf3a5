"""An 8-thread target: every thread is traced; a process-directed SIGTERM (taken by any
thread) is attributed to its sender and the process's death is reported once."""
from dwtest import *

out = os.path.join(workdir(), "cert.json")
dw = start([program("threads"), "8"], output=out, stdout=subprocess.PIPE)
check(dw.stdout.readline().strip() == b"ready", "8 threads started")
target = target_of(dw.pid)
tasks = os.listdir(f"/proc/{target}/task")
check(len(tasks) == 9, f"9 tasks in the target ({len(tasks)})")
for tid in tasks:
    with open(f"/proc/{target}/task/{tid}/status") as f:
        tracer = int([l for l in f if l.startswith("TracerPid:")][0].split()[1])
    if MODE == "ptrace":
        check(tracer == dw.pid, f"thread {tid} traced by deathwatch")
    else:
        check(tracer == 0, f"thread {tid} not ptraced: the kernel backend needs no stops")
sender = subprocess.Popen(["bash", "-c", f"kill -TERM {target}; sleep 1; true"])
dw.wait(timeout=30)
sender.wait()
check(killed_by(dw.returncode, signal.SIGTERM), "deathwatch died of SIGTERM")
cert = load(out)
check(cert["cause"]["sender"]["pid"] == sender.pid, "sender named")
term = signals_named(cert, "SIGTERM")
check(len(term) == 1 and term[0]["count"] == 1, "one SIGTERM delivery recorded")
check(term[0]["pid"] == target, "receiver is the process")
