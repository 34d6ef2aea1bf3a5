"""A real JVM under deathwatch: System.exit(4) with a shutdown hook is `exit`; SIGTERM from
a bash makes the JVM run its hook and exit 143, which is `signal` naming that bash."""
from dwtest import *

wd = compiled_java("Hooked")

out = os.path.join(wd, "exit.json")
dw = start(["java", "-Xmx64m", "-cp", wd, "Hooked", "exit", "4"], output=out,
           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
stdout, stderr = dw.communicate(timeout=120)
print(stderr.decode())
check(dw.returncode == 4, f"System.exit(4) gives 4 ({dw.returncode})")
check(b"hook ran" in stdout, "the shutdown hook ran")
cert = load(out)
check(cert["cause"]["category"] == "exit" and cert["cause"]["confidence"] == "certain",
      f"cause exit/certain ({cert['cause']['category']})")
check(cert["outcome"]["exit_code"] == 4, "outcome exit 4")
internal = [s for s in cert["signals"] if s["origin"] == "fault"]
print(f"JVM-internal fault signals recorded: {sum(s['count'] for s in internal)}")
# HotSpot provokes and handles its own faults: never shown as if they were the crash
# (deterministically covered by test_handled_fault).
check(all(s["disposition"] == "handled" for s in internal), "the JVM's own faults are marked handled")
report = stderr.decode()
check(all("(handled)" in l for l in report.splitlines() if "SEGV_" in l), "the report says (handled)")

out = os.path.join(wd, "term.json")
dw = start(["java", "-Xmx64m", "-cp", wd, "Hooked", "wait"], output=out,
           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
check(dw.stdout.readline().strip() == b"ready", "JVM started")
target = target_of(dw.pid, "java")
sender = subprocess.Popen(["bash", "-c", f"kill -TERM {target}; sleep 2; true"])
stdout, stderr = dw.communicate(timeout=120)
sender.wait()
print(stderr.decode())
check(dw.returncode == 143, f"JVM stopped by SIGTERM exits 143 ({dw.returncode})")
check(b"hook ran" in stdout, "the shutdown hook ran")
cert = load(out)
c = cert["cause"]
check(c["category"] == "signal" and c["confidence"] == "certain", f"signal/certain ({c['category']}/{c['confidence']})")
check(c["sender"]["pid"] == sender.pid and c["sender"]["comm"] == "bash", "sender is the bash")
