"""Two SIGTERMs while the target blocks SIGTERM: the kernel keeps the first and drops the
second (a standard signal is pending at most once). The certificate names the first sender,
the one whose signal was delivered, in both backends."""
from dwtest import *

out = os.path.join(workdir(), "cert.json")
dw = start([program("blocks_term"), "1500"], output=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
check(dw.stdout.readline().strip() == b"ready", "SIGTERM blocked")
target = target_of(dw.pid)
first = subprocess.Popen(["bash", "-c", f"kill -TERM {target}; sleep 3; true"])
time.sleep(0.3)
second = subprocess.Popen(["bash", "-c", f"kill -TERM {target}; sleep 3; true"])
_, err = dw.communicate(timeout=30)
print(err.decode())
first.kill(); second.kill(); first.wait(); second.wait()
check(killed_by(dw.returncode, signal.SIGTERM), f"died of SIGTERM once unblocked ({dw.returncode})")
cert = load(out)
check(cert["cause"]["sender"]["pid"] == first.pid,
      f"the first sender is named ({cert['cause']['sender']['pid']}; first {first.pid}, second {second.pid})")
