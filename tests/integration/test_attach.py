"""--pid: attach to a running program, then SIGTERM from the test (sender matches, status
mirrored); attach then Ctrl+C (SIGINT to deathwatch): the target keeps running, no longer
traced, and no signal is lost or duplicated across the attach."""
from dwtest import *


def attached(path):
    try:
        cert = load(path)
    except (OSError, ValueError):
        return False
    return any(b["active"] and b["name"] in ("ebpf", "ptrace") for b in cert["watcher"]["backends"])


target = subprocess.Popen(["sleep", "300"])
out = os.path.join(workdir(), "term.json")
dw = subprocess.Popen([DEATHWATCH, "-o", out, "--pid", str(target.pid)], stderr=subprocess.PIPE)
wait_until(lambda: attached(out), what="deathwatch attached")
sender = subprocess.Popen(["bash", "-c", f"kill -TERM {target.pid}; sleep 1; true"])
_, err = dw.communicate(timeout=30)
sender.wait()
target.wait()
print(err.decode())
check(killed_by(dw.returncode, signal.SIGTERM), f"deathwatch mirrors the death by SIGTERM ({dw.returncode})")
cert = load(out)
check(cert["process"]["pid"] == target.pid and cert["process"]["argv"] == ["sleep", "300"], "process identified")
check(cert["cause"]["sender"]["pid"] == sender.pid, "sender matches")

# Attach, a signal while attached, Ctrl+C, a signal after: exactly two, both handled.
target = subprocess.Popen([program("siginfo_report"), "2"], stdout=subprocess.PIPE)
check(target.stdout.readline().strip() == b"ready", "target ready")
out = os.path.join(workdir(), "detach.json")
dw = subprocess.Popen([DEATHWATCH, "-o", out, "--pid", str(target.pid)], stderr=subprocess.PIPE)
wait_until(lambda: attached(out), what="deathwatch attached")
os.kill(target.pid, signal.SIGUSR1)
time.sleep(0.3)
dw.send_signal(signal.SIGINT)
_, err = dw.communicate(timeout=30)
print(err.decode())
check(dw.returncode == 0, f"deathwatch ends 0 after Ctrl+C ({dw.returncode})")
check(target.poll() is None, "the target still runs")
with open(f"/proc/{target.pid}/status") as f:
    tracer = int([l for l in f if l.startswith("TracerPid:")][0].split()[1])
check(tracer == 0, "the target is no longer traced")
cert = load(out)
check(cert["outcome"]["kind"] == "alive" and cert["process"]["watch_ended_alive"], "certificate: watch ended, alive")
check(len(signals_named(cert, "SIGUSR1")) == 1, "the SIGUSR1 sent while attached is recorded")
os.kill(target.pid, signal.SIGUSR2)
output, _ = target.communicate(timeout=30)
lines = output.decode().split("\n")
lines = [l for l in lines if l.strip()]
print(lines)
check(target.returncode == 0 and len(lines) == 2, "exactly two signals reached the target: none lost, none doubled")
check(lines[0].split()[0] == str(int(signal.SIGUSR1)) and lines[1].split()[0] == str(int(signal.SIGUSR2)), "in order")

# A process that ends while deathwatch is still attaching: the end is not missed.
quick = subprocess.Popen(["sleep", "0.03"])
proc = subprocess.run([DEATHWATCH, "--pid", str(quick.pid)], capture_output=True, timeout=30)
quick.wait()
check(proc.returncode in (0, 125), f"a process that ends during the attach: no hang ({proc.returncode})")

proc = subprocess.run([DEATHWATCH, "--pid", "999999999"], capture_output=True)
check(proc.returncode == 125 and b"no running process" in proc.stderr, "a missing pid: 125, one line")
