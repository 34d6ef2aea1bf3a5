"""Through a real pty: Ctrl+C kills the target (cause `terminal`, SI_KERNEL, no process
blamed) and deathwatch dies of SIGINT too; Ctrl+Z stops the job in an interactive bash
(target and deathwatch), `fg` resumes both, and SIGTSTP/SIGCONT are recorded."""
import pty
import re

from dwtest import *


def read_until(fd, pattern, timeout=20):
    buf = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        import select
        r, _, _ = select.select([fd], [], [], 0.1)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            buf += chunk
            if re.search(pattern, buf):
                return buf
    fail(f"pty never showed {pattern!r}; got {buf!r}")


# --- Ctrl+C -------------------------------------------------------------------------------
out = os.path.join(workdir(), "int.json")
pid, master = pty.fork()
if pid == 0:
    os.execv(DEATHWATCH, [DEATHWATCH, "-o", out, "--", "sleep", "300"])
target = target_of(pid, "sleep")
os.write(master, b"\x03")
_, status = os.waitpid(pid, 0)
check(os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGINT,
      f"deathwatch died of SIGINT after Ctrl+C (status {status:#x})")
cert = load(out)
c = cert["cause"]
check(c["category"] == "terminal" and c["signal"] == "SIGINT", f"cause terminal ({c['category']}: {c['summary']})")
check(c["sender"] is None, "no process blamed for Ctrl+C")
ints = signals_named(cert, "SIGINT")
check(len(ints) == 1 and ints[0]["code"] == "SI_KERNEL", "one SI_KERNEL SIGINT, none forwarded")
os.close(master)

# --- Ctrl+Z / fg in an interactive bash ----------------------------------------------------
out = os.path.join(workdir(), "tstp.json")
pid, master = pty.fork()
if pid == 0:
    os.environ["PS1"] = "PROMPT$ "
    os.execvp("bash", ["bash", "--norc", "--noprofile", "-i"])
read_until(master, rb"PROMPT\$ ")
os.write(master, f"{DEATHWATCH} -o {out} -- sleep 300\n".encode())
dw = wait_until(lambda: next((c for c in children_of(pid) if proc_comm(c) == "deathwatch"), None),
                what="deathwatch under bash")
target = target_of(dw, "sleep")
os.write(master, b"\x1a")
read_until(master, rb"Stopped")
check(proc_state(target) in ("T", "t"), f"target stopped ({proc_state(target)})")
check(proc_state(dw) == "T", f"deathwatch stopped with it ({proc_state(dw)})")
os.write(master, b"fg\n")
wait_until(lambda: proc_state(target) == "S" and proc_state(dw) == "S", what="both resumed by fg")
check(True, "fg resumed target and deathwatch")
os.kill(target, signal.SIGTERM)
wait_until(lambda: proc_state(dw) in (None, "Z"), what="deathwatch to end")
wait_until(lambda: load(out)["final"], what="final certificate")
cert = load(out)
tstp = signals_named(cert, "SIGTSTP")
check(len(tstp) == 1 and tstp[0]["code"] == "SI_KERNEL", f"SIGTSTP from the terminal recorded ({tstp})")
cont = signals_named(cert, "SIGCONT")
check(len(cont) == 1 and cont[0]["sender"]["pid"] == pid, "fg's SIGCONT recorded, sent by bash")
check(cert["cause"]["signal"] == "SIGTERM" and cert["cause"]["sender"]["pid"] == os.getpid(),
      "then killed by this test's SIGTERM")
os.write(master, b"exit\n")
os.waitpid(pid, 0)
