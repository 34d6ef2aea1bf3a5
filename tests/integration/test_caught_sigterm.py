"""A program that catches SIGTERM and exits 143 (the JVM's way): outcome `exited 143`,
cause `signal`/certain naming the sender."""
from dwtest import *

out = os.path.join(workdir(), "cert.json")
dw = start([program("caught_term")], output=out, stdout=subprocess.PIPE)
check(dw.stdout.readline().strip() == b"ready", "target installed its handler")
target = target_of(dw.pid)
sender = subprocess.Popen(["bash", "-c", f"kill -TERM {target}; sleep 1; true"])
dw.wait(timeout=30)
sender.wait()
check(dw.returncode == 143, f"deathwatch exits 143 like the target ({dw.returncode})")
cert = load(out)
check(cert["outcome"]["kind"] == "exited" and cert["outcome"]["exit_code"] == 143, "outcome exited 143")
c = cert["cause"]
check(c["category"] == "signal" and c["confidence"] == "certain", f"signal/certain ({c['category']}/{c['confidence']})")
check(c["signal"] == "SIGTERM", "cause signal SIGTERM")
check(c["sender"]["pid"] == sender.pid and c["sender"]["comm"] == "bash", "sender is the bash")
