"""SIGTERM from a bash the test started: the certificate names that bash (pid, comm,
parent = this test), deathwatch dies of SIGTERM too."""
from dwtest import *

for attempt in range(3):  # repeated: the sender's identity is read while it lives
    out = os.path.join(workdir(), "cert.json")
    dw = start(["sleep", "300"], output=out, stderr=subprocess.PIPE)
    target = target_of(dw.pid, "sleep")
    sender = subprocess.Popen(["bash", "-c", f"kill -TERM {target}; sleep 2; true"])
    _, err = dw.communicate(timeout=30)
    sender.wait()
    print(err.decode())
    check(killed_by(dw.returncode, signal.SIGTERM), f"deathwatch died of SIGTERM ({dw.returncode})")
    cert = load(out)
    check(cert["outcome"]["kind"] == "killed" and cert["outcome"]["signal"] == "SIGTERM", "outcome")
    cause = cert["cause"]
    check(cause["category"] == "signal" and cause["confidence"] == "certain", "signal/certain")
    s = cause["sender"]
    check(s["pid"] == sender.pid, f"sender pid {s['pid']} == bash pid {sender.pid}")
    check(s["comm"] == "bash", f"sender comm bash ({s['comm']})")
    check(s["uid"] == os.getuid(), "sender uid")
    check(s["cmdline"][:2] == ["bash", "-c"], f"sender cmdline {s['cmdline']}")
    check(s["ancestry"][0]["pid"] == os.getpid(), "sender's parent is this test")
    check(s["ancestry"][-1]["pid"] == 1 or len(s["ancestry"]) > 0, "ancestry walks up")
    terms = signals_named(cert, "SIGTERM")
    check(len(terms) == 1 and terms[0]["code"] == "SI_USER" and terms[0]["pid"] == target,
          "one SI_USER SIGTERM to the target in the signal list")
    check(f"bash(pid {sender.pid}" in err.decode() or f"pid {sender.pid}" in err.decode(),
          "stderr report names the sender")

# /bin/kill exits at once: the pid from siginfo is still reported.
out = os.path.join(workdir(), "cert.json")
dw = start(["sleep", "300"], output=out, stderr=subprocess.DEVNULL)
target = target_of(dw.pid, "sleep")
killer = subprocess.Popen(["/bin/kill", "-TERM", str(target)])
killer.wait()
dw.wait(timeout=30)
cert = load(out)
check(cert["cause"]["sender"]["pid"] == killer.pid, "short-lived /bin/kill: pid from siginfo")
