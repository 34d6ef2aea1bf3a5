"""--redact REGEX masks secrets in every command line deathwatch records: the command's own
argv, a descendant's, and a sender's (another process that kills the command with the secret
on its own command line). None of them reaches the certificate, the event log or stderr; a
pattern may span two words ("--password \\S+"), and text around a match stays."""
from dwtest import *

wd = workdir()
out = os.path.join(wd, "redact.json")
marker = os.path.join(wd, "ready")
script = f"sh -c 'sleep 2; true' child-token-5678 & echo $! > {marker}; wait; exec sleep 30"
proc = start(["sh", "-c", script, "top", "--password", "hunter2", "user=alice:token-1234"], output=out,
             extra=["--redact", r"token-\d+", "--redact", r"--password \S+"],
             stderr=subprocess.PIPE)
wait_until(lambda: os.path.exists(marker) and open(marker).read().strip(), what="the descendant started")
time.sleep(0.3)
os.kill(int(open(marker).read()), signal.SIGKILL)  # an abnormal death: listed with its argv
time.sleep(0.3)
top = target_of(proc.pid)
sender = subprocess.Popen(["sh", "-c", f"sleep 0.2; kill -TERM {top}; sleep 1", "sender", "token-9999"])
_, err = proc.communicate(timeout=60)
sender.wait()
err = err.decode()
print(err)
with open(out) as f:
    text = f.read()
with open(out + ".events") as f:
    events = f.read()
for secret in ("hunter2", "token-1234", "token-5678", "token-9999"):
    check(secret not in text, f"{secret} is not in the certificate")
    check(secret not in events, f"{secret} is not in the event log")
    check(secret not in err, f"{secret} is not on stderr")
cert = json.loads(text)
argv = cert["process"]["argv"]
check(argv[3:] == ["top", "[redacted]", "[redacted]", "user=alice:[redacted]"],
      f"the command's argv keeps its words, matches masked ({argv})")
sender_cmdline = cert["cause"]["sender"]["cmdline"] if cert["cause"]["sender"] else None
if MODE == "kernel" or sender_cmdline:
    check(sender_cmdline and sender_cmdline[-1] == "[redacted]" and sender_cmdline[1] == "-c",
          f"the sender's command line is recorded, masked ({sender_cmdline})")
check(any("child-[redacted]" in " ".join(d["argv"]) for d in cert["descendants"]),
      f"the descendant's argv is masked ({[d['argv'] for d in cert['descendants']]})")
check("[redacted]" in err, "stderr shows the masks")

r = subprocess.run([DEATHWATCH, "--redact", "(unclosed", "--", "true"], capture_output=True, text=True, timeout=30)
check(r.returncode == 125 and len(r.stderr.strip().splitlines()) == 1,
      f"a bad pattern: one line, exit 125 ({r.returncode}: {r.stderr.strip()})")
