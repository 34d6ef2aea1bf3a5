"""`deathwatch show`: a certificate rendered for a person (the cause first, the sender, the
signal timeline, resources), plain when piped and coloured on a terminal unless NO_COLOR;
--json re-emits it; a stale `running` certificate whose watcher is gone is called stale;
--summary DIR gives one line per certificate, newest first; a file that is not a certificate
gets one line and a non-zero exit; `deathwatch -- show` still runs a program named show."""
import pty

from dwtest import *

wd = workdir()
out = os.path.join(wd, "a.json")
proc = start(["sleep", "30"], output=out, stderr=subprocess.DEVNULL)
target = target_of(proc.pid, "sleep")
time.sleep(0.3)
sender = subprocess.Popen(["sh", "-c", f"kill -TERM {target}; sleep 1"])
proc.wait(timeout=60)
sender.wait()
cert = load(out)

r = subprocess.run([DEATHWATCH, "show", out], capture_output=True, text=True, timeout=30)
print(r.stdout)
lines = r.stdout.splitlines()
check(r.returncode == 0 and lines[0] == cert["cause"]["summary"], f"the cause first, in one sentence ({lines[0]!r})")
check(any(l.strip().startswith("sender:") and f"pid {sender.pid}" in l for l in lines), "then the sender")
check(any("signals:" in l for l in lines) and any("SIGTERM" in l and f"pid {sender.pid}" in l for l in lines),
      "the signal timeline")
check("\x1b[" not in r.stdout, "plain when piped")

# On a terminal: coloured, unless NO_COLOR.
for no_color in (False, True):
    master, slave = pty.openpty()
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    if no_color:
        env["NO_COLOR"] = "1"
    p = subprocess.Popen([DEATHWATCH, "show", out], stdout=slave, stderr=subprocess.DEVNULL, env=env)
    os.close(slave)
    data = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    p.wait(timeout=30)
    os.close(master)
    check(("\x1b[" in data.decode()) != no_color, f"on a terminal: {'plain with NO_COLOR' if no_color else 'coloured'}")

r = subprocess.run([DEATHWATCH, "show", "--json", out], capture_output=True, text=True, timeout=30)
check(r.returncode == 0 and json.loads(r.stdout) == cert, "--json re-emits the certificate")

# A running certificate whose watcher was killed: stale.
stale = os.path.join(wd, "b.json")
dw = start(["sleep", "30"], output=stale, stderr=subprocess.DEVNULL)
t = target_of(dw.pid, "sleep")
wait_until(lambda: os.path.exists(stale) and load(stale)["watcher"]["backends"], what="attached")
os.kill(dw.pid, signal.SIGKILL)
dw.wait()
os.kill(t, signal.SIGKILL)
r = subprocess.run([DEATHWATCH, "show", stale], capture_output=True, text=True, timeout=30)
check(r.stdout.splitlines()[0].startswith("stale: its watcher") and str(dw.pid) in r.stdout.splitlines()[0],
      f"a running certificate whose watcher is gone is stale ({r.stdout.splitlines()[0]!r})")

# --summary: one line per certificate, newest first; other JSON files ignored.
with open(os.path.join(wd, "other.json"), "w") as f:
    f.write('{"not": "a certificate"}')
r = subprocess.run([DEATHWATCH, "show", "--summary", wd], capture_output=True, text=True, timeout=30)
print(r.stdout)
summary = r.stdout.splitlines()
check(len(summary) == 2, f"two certificates, two lines ({len(summary)})")
check("stale" in summary[0] and cert["cause"]["summary"] in summary[1], "newest first (the stale one started last)")

bogus = os.path.join(wd, "other.json")
r = subprocess.run([DEATHWATCH, "show", bogus], capture_output=True, text=True, timeout=30)
check(r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "not a deathwatch certificate" in r.stderr,
      f"not a certificate: one line, non-zero exit ({r.returncode})")

bindir = tempfile.mkdtemp(dir=wd)
with open(os.path.join(bindir, "show"), "w") as f:
    f.write("#!/bin/sh\nexit 43\n")
os.chmod(os.path.join(bindir, "show"), 0o755)
r = subprocess.run([DEATHWATCH, "-q", "--", "show"], env=dict(os.environ, PATH=bindir + ":" + os.environ["PATH"]),
                   capture_output=True, timeout=30)
check(r.returncode == 43, f"`deathwatch -- show` runs a program named show ({r.returncode})")
