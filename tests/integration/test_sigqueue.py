"""sigqueue(3) from a helper that lingers: SI_QUEUE with the helper as the named sender."""
from dwtest import *

out = os.path.join(workdir(), "cert.json")
dw = start(["sleep", "300"], output=out, stderr=subprocess.DEVNULL)
target = target_of(dw.pid, "sleep")
sender = subprocess.Popen([program("send_sigqueue"), str(target), str(int(signal.SIGTERM)), "7", "500"])
dw.wait(timeout=30)
sender.wait()
cert = load(out)
c = cert["cause"]
check(c["category"] == "signal" and c["signal"] == "SIGTERM", "killed by the queued SIGTERM")
check(c["sender"]["pid"] == sender.pid and c["sender"]["comm"] == "send_sigqueue", "sender named")
term = signals_named(cert, "SIGTERM")
check(term[0]["code"] == "SI_QUEUE", f"code SI_QUEUE ({term[0]['code']})")
