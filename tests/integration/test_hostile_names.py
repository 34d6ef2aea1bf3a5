"""Hostile names: a working directory, an argument and a sender's command line holding
newlines, tabs, terminal escape sequences and a fake "deathwatch:" line. The JSON keeps them
exactly (escaped per JSON, so the file stays one valid document), and the report on stderr
shows them escaped: no raw control byte reaches the terminal, no injected line appears."""
from dwtest import *

wd = workdir()
cwd = os.path.join(wd, "dir\nwith\ttab\x1b[31mred")
os.mkdir(cwd)
payload = "arg\ndeathwatch: FAKE injected line\tX\x1b]0;title\x07\x1b[2J"
out = os.path.join(wd, "hostile.json")
proc = start(["sh", "-c", "trap : USR1; sleep 1 & wait; exec sleep 30", "name\ttab", payload],
             output=out, stderr=subprocess.PIPE, cwd=cwd)
top = target_of(proc.pid)
time.sleep(0.3)
sender = subprocess.Popen(["sh", "-c", f"kill -TERM {top}; sleep 1", "sender\nFAKE: sender line\x1b[1m"])
_, err = proc.communicate(timeout=60)
sender.wait()
err = err.decode("utf-8", "replace")
print(err)
with open(out, "rb") as f:
    raw = f.read()
cert = json.loads(raw)
check(cert["process"]["argv"][-1] == payload, "the argument is kept exactly in JSON")
check(cert["process"]["argv"][-2] == "name\ttab", "tabs kept exactly")
check(cert["process"]["cwd"] == cwd, "the working directory is kept exactly")
check(b"\x1b" not in raw and b"\x07" not in raw and b"\t" not in raw,
      "the file holds no raw control byte (JSON escapes them)")
s = cert["cause"]["sender"]
if s and s.get("cmdline"):
    check(s["cmdline"][-1] == "sender\nFAKE: sender line\x1b[1m", "the sender's command line kept exactly")
for byte in ("\x1b", "\x07", "\t"):
    check(byte not in err, f"no raw {byte!r} on stderr")
lines = err.splitlines()
check(not any(l.startswith("deathwatch: FAKE") or l.startswith("FAKE:") for l in lines),
      "no injected line on stderr")
check("\\x0a" in err and "\\x1b" in err and "\\x09" in err, "the control characters are shown escaped")
