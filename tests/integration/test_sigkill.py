"""kill -9 from a bash the test started, and from /bin/kill (which exits at once).
With the eBPF backend the sender is named (pid, comm, parent); with it off (ptrace only)
the sender is null, the category `signal`, the confidence `unknown`, and the certificate
says what would have named it. Never `oom`."""
from dwtest import *

for attempt in range(3):  # repeated: a race here would show as a wrong or missing sender
    out = os.path.join(workdir(), "cert.json")
    dw = start(["sleep", "300"], output=out, stderr=subprocess.PIPE)
    target = target_of(dw.pid, "sleep")
    sender = subprocess.Popen(["bash", "-c", f"kill -9 {target}; true"])
    sender.wait()
    _, err = dw.communicate(timeout=30)
    print(err.decode())
    check(killed_by(dw.returncode, signal.SIGKILL), f"deathwatch died of SIGKILL ({dw.returncode})")
    cert = load(out)
    c = cert["cause"]
    check(cert["outcome"]["signal"] == "SIGKILL", "outcome SIGKILL")
    check(c["category"] == "signal", f"category signal, not oom ({c['category']})")
    if MODE == "kernel":
        check(c["confidence"] == "certain", "certain")
        check(c["sender"]["pid"] == sender.pid, f"sender pid {c['sender']['pid']} == {sender.pid}")
        check(c["sender"]["comm"] == "bash", f"sender comm bash ({c['sender']['comm']})")
        check(c["sender"]["ancestry"][0]["pid"] == os.getpid(), "sender's parent is this test")
        check(c["sender"]["cmdline"][:2] == ["bash", "-c"], f"cmdline captured ({c['sender']['cmdline']})")
    else:
        check(c["sender"] is None and c["confidence"] == "unknown", "sender unknown, confidence unknown")
        check(any("cap_bpf" in e for e in c["evidence"]), "says what would name the sender")
        ebpf = [b for b in cert["watcher"]["backends"] if b["name"] == "ebpf"][0]
        check(not ebpf["active"] and "DEATHWATCH_NO_BPF" in ebpf["detail"], "eBPF forced off, and says why")
        check(cert["oom"] is None, "no OOM evidence invented")

out = os.path.join(workdir(), "cert.json")
dw = start(["sleep", "300"], output=out, stderr=subprocess.DEVNULL)
target = target_of(dw.pid, "sleep")
killer = subprocess.Popen(["/bin/kill", "-9", str(target)])
killer.wait()
dw.wait(timeout=30)
cert = load(out)
if MODE == "kernel":
    s = cert["cause"]["sender"]
    check(s["pid"] == killer.pid and s["comm"] == "kill", f"/bin/kill named although it exited ({s['pid']}, {s['comm']})")
else:
    check(cert["cause"]["sender"] is None, "/bin/kill: unknown without the kernel backend")
