"""SIGTERM/SIGHUP/SIGINT sent to deathwatch alone are forwarded to the target; the
certificate says so and names the process that sent it to deathwatch. A signal sent to the
whole process group reaches the target once, not twice."""
from dwtest import *

for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
    out = os.path.join(workdir(), "cert.json")
    dw = start(["sleep", "300"], output=out, stderr=subprocess.DEVNULL)
    target_of(dw.pid, "sleep")
    sender = subprocess.Popen(["bash", "-c", f"kill -{sig.name[3:]} {dw.pid}; sleep 1; true"])
    dw.wait(timeout=30)
    sender.wait()
    check(killed_by(dw.returncode, sig), f"{sig.name}: deathwatch died of it ({dw.returncode})")
    cert = load(out)
    c = cert["cause"]
    check(c["category"] == "signal" and c["signal"] == sig.name, f"{sig.name}: cause signal")
    check(c["sender"]["pid"] == sender.pid, f"{sig.name}: the real sender is named ({c['sender']['pid']})")
    recs = signals_named(cert, sig.name)
    check(len(recs) == 1 and recs[0]["forwarded_from"]["pid"] == sender.pid,
          f"{sig.name}: recorded as forwarded")

# To the whole process group: deathwatch must not forward a second copy.
out = os.path.join(workdir(), "cert.json")
dw = start([program("siginfo_report"), "1"], output=out, stdout=subprocess.PIPE,
           start_new_session=True)
check(dw.stdout.readline().strip() == b"ready", "target ready")
os.killpg(dw.pid, signal.SIGUSR1)
time.sleep(0.5)  # a duplicate would arrive within deathwatch's forward delay
report, _ = dw.communicate(timeout=30)
check(dw.returncode == 0, "target exited after one SIGUSR1")
cert = load(out)
recs = signals_named(cert, "SIGUSR1")
check(sum(r["count"] for r in recs) == 1, f"SIGUSR1 delivered once, not forwarded again ({recs})")
