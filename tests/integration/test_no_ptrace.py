"""ptrace refused (a seccomp filter, as in a locked-down container): the target still runs,
its exit status is still mirrored, and the certificate and stderr say ptrace was off. With
the eBPF backend, ptrace is not needed at all: senders are still named."""
from dwtest import *

# Under the sanitizer pass: LeakSanitizer stops the process with ptrace at exit, which this
# scenario forbids (deathwatch's own leak check, not the target's, would fail).
if "ASAN_OPTIONS" in os.environ:
    os.environ["ASAN_OPTIONS"] += ":detect_leaks=0"

if MODE == "kernel":
    out = os.path.join(workdir(), "cert.json")
    dw = subprocess.Popen([program("deny_ptrace"), DEATHWATCH, "-o", out, "--", "sleep", "300"],
                          stderr=subprocess.PIPE)
    target = target_of(dw.pid, "sleep")
    os.kill(target, signal.SIGTERM)
    _, err = dw.communicate(timeout=30)
    check(killed_by(dw.returncode, signal.SIGTERM), "death by SIGTERM mirrored")
    check(b"ptrace not permitted" not in err, "no ptrace warning: the kernel backend needs none")
    cert = load(out)
    check(cert["cause"]["sender"]["pid"] == os.getpid(), "sender named by the kernel backend")
    sys.exit(0)

deny = program("deny_ptrace")
out = os.path.join(workdir(), "cert.json")
proc = subprocess.run([deny, DEATHWATCH, "-o", out, "--", program("exit_code"), "5"],
                      capture_output=True, timeout=60)
err = proc.stderr.decode()
print(err)
check(proc.returncode == 5, f"exit code mirrored without ptrace ({proc.returncode})")
check("ptrace not permitted" in err, "warning on stderr")
cert = load(out)
ptrace = [b for b in cert["watcher"]["backends"] if b["name"] == "ptrace"][0]
check(ptrace["active"] is False, "certificate: ptrace backend inactive")
check(any("ptrace not permitted" in w for w in cert["watcher"]["warnings"]), "certificate warning")
check(cert["cause"]["category"] == "exit", "exit still classified")

out = os.path.join(workdir(), "cert.json")
dw = subprocess.Popen([deny, DEATHWATCH, "-o", out, "--", "sleep", "300"], stderr=subprocess.DEVNULL)
target = target_of(dw.pid, "sleep")
os.kill(target, signal.SIGTERM)
dw.wait(timeout=30)
check(killed_by(dw.returncode, signal.SIGTERM), "death by SIGTERM mirrored without ptrace")
cert = load(out)
check(cert["cause"]["category"] == "signal" and cert["cause"]["sender"] is None
      and cert["cause"]["confidence"] == "unknown", "no sender invented without ptrace")
