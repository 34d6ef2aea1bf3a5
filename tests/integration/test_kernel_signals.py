"""Kernel-made signals are never blamed on a process: SIGPIPE (SI_USER with the target's
own pid) and SIGALRM from alarm() (SI_KERNEL) are category `kernel`."""
from dwtest import *

out = os.path.join(workdir(), "pipe.json")
dw = start([program("write_broken_pipe")], output=out, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
dw.stdout.read(1)
dw.stdout.close()
dw.wait(timeout=30)
check(killed_by(dw.returncode, signal.SIGPIPE), f"died of SIGPIPE ({dw.returncode})")
cert = load(out)
check(cert["cause"]["category"] == "kernel", f"SIGPIPE is kernel ({cert['cause']})")

out = os.path.join(workdir(), "alarm.json")
rc, _ = run(["perl", "-e", "alarm 1; sleep 10"], output=out)
check(killed_by(rc, signal.SIGALRM), f"died of SIGALRM ({rc})")
cert = load(out)
check(cert["cause"]["category"] == "kernel" and cert["cause"]["sender"] is None,
      f"SIGALRM is kernel ({cert['cause']['category']})")
