"""deathwatch run unprivileged (setpriv to uid 65534): no eBPF (watcher.backends says why;
stderr only where it changed the answer: a missing privilege is no event, so `-q` on a clean
exit prints nothing and a bad command gets exactly one line), ptrace of its own child still
works. kill -9 from root: sender unknown, `signal`/`unknown`, never `oom`.
An OOM kill in a cgroup the target has to itself (besides deathwatch): `oom`/`likely` from
the world-readable cgroup counter."""
from dwtest import *

require_root()
if not have("setpriv"):
    skip("setpriv (util-linux) not installed")
UNPRIV = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all"]
# uid 65534 must reach the binaries and the output: the build tree may sit below a
# directory it cannot enter (/root), so both go to a fresh world-readable place.
wd = tempfile.mkdtemp(prefix="deathwatch-unprivileged.")
os.chmod(wd, 0o777)
for name, path in (("deathwatch", DEATHWATCH), ("memory_hog", program("memory_hog"))):
    shutil.copy2(path, os.path.join(wd, name))
DW_COPY = os.path.join(wd, "deathwatch")
HOG_COPY = os.path.join(wd, "memory_hog")
# This scenario is about privilege: the eBPF backend must fail by itself, not be switched off.
os.environ.pop("DEATHWATCH_NO_BPF", None)


def raw(path):
    with open(path) as f:
        return json.load(f)


out = os.path.join(wd, "kill.json")
dw = subprocess.Popen(UNPRIV + [DW_COPY, "-o", out, "--", "sleep", "300"], stderr=subprocess.PIPE)
target = target_of(dw.pid, "sleep")
os.kill(target, signal.SIGKILL)
_, err = dw.communicate(timeout=30)
print(err.decode())
check(killed_by(dw.returncode, signal.SIGKILL), "died of SIGKILL")
cert = raw(out)
b = {x["name"]: x for x in cert["watcher"]["backends"]}
check(not b["ebpf"]["active"], f"eBPF off when unprivileged: {b['ebpf']['detail']}")
check("warning" not in err.decode(), "no warning line: the missing privilege is no event")
check(not cert["watcher"]["warnings"], f"nor a certificate warning ({cert['watcher']['warnings']})")
check(b["ptrace"]["active"], "ptrace of its own child works unprivileged")
c = cert["cause"]
check(c["category"] == "signal" and c["confidence"] == "unknown" and c["sender"] is None,
      f"signal/unknown with no sender ({c['category']}/{c['confidence']})")
check(any("cap_bpf" in e for e in c["evidence"]), "says how to get the sender named")
check(c["category"] != "oom", "not oom")
check("setcap cap_bpf,cap_perfmon+p" in err.decode(), "the report gives the one line that would name it")

# Quiet when nothing is wrong, one line for a bad command.
quiet = subprocess.run(UNPRIV + [DW_COPY, "-q", "--", "true"], capture_output=True, timeout=60)
check(quiet.returncode == 0 and quiet.stderr == b"", f"-q on a clean exit prints nothing ({quiet.stderr!r})")
not_executable = os.path.join(wd, "data.txt")  # like /etc/hostname: a file without x bits
with open(not_executable, "w") as f:
    f.write("data\n")
os.chmod(not_executable, 0o644)
bad = subprocess.run(UNPRIV + [DW_COPY, "--", not_executable], capture_output=True, timeout=60)
lines = bad.stderr.decode().splitlines()
check(bad.returncode == 126 and len(lines) == 1, f"a command that cannot run: 126 and one line ({bad.returncode}, {lines})")
clean = subprocess.run(UNPRIV + [DW_COPY, "--", "true"], capture_output=True, timeout=60)
check("setcap" not in clean.stderr.decode() and "eBPF" not in clean.stderr.decode(),
      "a clean exit's report does not mention the missing privilege")

# A set-uid program exec'd under an unprivileged (ptrace) deathwatch runs without its
# privileges: deathwatch warns.
setuid = next((p for p in ("/usr/bin/passwd", "/usr/bin/su", "/usr/bin/mount") if os.path.exists(p)
               and os.stat(p).st_mode & 0o4000), None)
if setuid is None:
    skip("no set-uid program found to check the privilege-loss warning")
out = os.path.join(wd, "setuid.json")
proc = subprocess.run(UNPRIV + [DW_COPY, "-o", out, "--", setuid, "--help"], capture_output=True, timeout=60)
check("set-uid" in proc.stderr.decode() and "WITHOUT" in proc.stderr.decode(),
      f"warns that {setuid} runs without its privileges")

with MemoryCgroup(64 << 20) as cg:
    out = os.path.join(wd, "oom.json")
    proc = subprocess.run(cg.enter_command(UNPRIV + [DW_COPY, "-o", out, "--", HOG_COPY]),
                          capture_output=True, timeout=120)
    print(proc.stderr.decode())
    check(killed_by(proc.returncode, signal.SIGKILL), f"hog SIGKILLed ({proc.returncode})")
    cert = raw(out)
    c = cert["cause"]
    check(c["category"] == "oom" and c["confidence"] == "likely",
          f"oom/likely from counters ({c['category']}/{c['confidence']}: {c['summary']})")
    check(cert["oom"]["source"] in ("memory.oom_control", "memory.events"), f"source {cert['oom']['source']}")
    check(cert["oom"]["cgroup_other_processes"] == 0, "no other process in the cgroup")
    check(any("setcap cap_bpf,cap_perfmon+p" in e for e in c["evidence"]),
          "an OOM seen only through counters: the report says how to get the kernel's own word")

shutil.rmtree(wd, ignore_errors=True)
