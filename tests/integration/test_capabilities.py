"""The one-time admin step for unprivileged users: `setcap cap_bpf,cap_perfmon+p` on a copy
of deathwatch (and `+ep`), run as uid 65534 through setpriv.

- kernel mode: the eBPF backend loads and attaches with just those two capabilities, and a
  SIGKILL from root is attributed to its sender; ptrace mode: the report's advice names the
  `setcap ...+p` line.
- The capabilities are deathwatch's alone: the command's CapInh/CapPrm/CapEff/CapAmb equal a
  bare run's, its environment is the caller's (glibc's secure mode strips LD_LIBRARY_PATH and
  TMPDIR from deathwatch's own), no eBPF descriptor reaches it, and deathwatch holds no
  capability once the programs are attached.
- No reach beyond the caller: --pid on root's process, or on a process of the same user with
  more capabilities, is refused with one line and exit 125 before any file is written.
- Signals to a set-user-ID descendant (not the caller's process) stay out of the certificate.
- A sender's command line is left out where /proc (hidepid=2) hides it from the caller.
- The certificate and event log belong to the caller, mode 0640 (--mode 0600 honoured)."""
from dwtest import *

require_root()
for tool in ("setpriv", "setcap", "unshare"):
    if not have(tool):
        skip(f"{tool} not installed")

UNPRIV = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
NOBODY = 65534
wd = tempfile.mkdtemp(prefix="deathwatch-capabilities.")
os.chmod(wd, 0o755)
out_dir = os.path.join(wd, "out")
os.mkdir(out_dir)
os.chown(out_dir, NOBODY, NOBODY)
copies = {}
for flags in ("+p", "+ep"):
    copy = os.path.join(wd, "deathwatch" + flags.replace("+", "_"))
    shutil.copy2(DEATHWATCH, copy)
    subprocess.run(["setcap", "cap_bpf,cap_perfmon" + flags, copy], check=True)
    copies[flags] = copy


def caps_of(pid):
    with open(f"/proc/{pid}/status") as f:
        return {l.split(":")[0]: l.split()[1] for l in f if l.startswith("Cap")}


def bare_caps():
    text = subprocess.run(UNPRIV + ["grep", "^Cap", "/proc/self/status"], capture_output=True,
                          text=True, check=True).stdout
    return {l.split(":")[0]: l.split()[1] for l in text.splitlines()}


def certificate_named(name):
    return os.path.join(out_dir, name)


def wait_for_attached(path):
    def attached():
        try:
            return bool(load(path)["watcher"]["backends"])
        except Exception:
            return False
    wait_until(attached, what=f"{path} written with its backends")


for flags, dw in copies.items():
    print(f"--- setcap cap_bpf,cap_perfmon{flags}")
    # 1. SIGKILL from root, sent by a process whose pid the test knows.
    out = certificate_named(f"kill{flags}.json")
    proc = subprocess.Popen(UNPRIV + [dw, "-o", out, "--", "sleep", "300"], stderr=subprocess.PIPE)
    target = target_of(proc.pid, "sleep")
    wait_for_attached(out)
    cert = load(out)
    backends = {b["name"]: b for b in cert["watcher"]["backends"]}
    if MODE == "kernel":
        check(backends["ebpf"]["active"], f"{flags}: eBPF backend active as uid 65534 ({backends['ebpf']['detail']})")
    else:
        check(backends["ptrace"]["active"], f"{flags}: ptrace of its own child works ({backends['ptrace']['detail']})")
    dw_caps = caps_of(proc.pid)
    check(dw_caps["CapPrm"] == dw_caps["CapEff"] == dw_caps["CapAmb"] == "0000000000000000",
          f"{flags}: deathwatch holds no capability once attached ({dw_caps})")
    check(caps_of(target) == bare_caps(), f"{flags}: the command's capability sets are a bare run's")
    fds = [os.readlink(f"/proc/{target}/fd/{n}") for n in os.listdir(f"/proc/{target}/fd")]
    check(not any("bpf" in f or "anon_inode" in f for f in fds), f"{flags}: no eBPF descriptor reached the command ({fds})")
    sender = subprocess.Popen(["sh", "-c", f"kill -KILL {target}; sleep 1"])
    _, err = proc.communicate(timeout=30)
    sender.wait()
    err = err.decode()
    print(err)
    check(killed_by(proc.returncode, signal.SIGKILL), f"{flags}: deathwatch mirrors SIGKILL")
    cert = load(out)
    st = os.stat(out)
    check(st.st_uid == NOBODY and (st.st_mode & 0o777) == 0o640,
          f"{flags}: the certificate belongs to the caller, mode 0640 ({st.st_uid}, {oct(st.st_mode)})")
    ev = os.stat(out + ".events")
    check(ev.st_uid == NOBODY and (ev.st_mode & 0o777) == 0o640, f"{flags}: so does the event log")
    cause = cert["cause"]
    if MODE == "kernel":
        check(cause["sender"] and cause["sender"]["pid"] == sender.pid and cause["sender"]["uid"] == 0,
              f"{flags}: SIGKILL sender named: pid {sender.pid}, uid 0 ({cause['sender']})")
        check(cause["sender"]["cmdline"] and "kill -KILL" in " ".join(cause["sender"]["cmdline"]),
              f"{flags}: with its command line, which /proc shows the caller too")
    else:
        check(cause["sender"] is None, f"{flags}: ptrace cannot name a SIGKILL sender")
        check(any("setcap cap_bpf,cap_perfmon+p" in e for e in cause["evidence"]),
              f"{flags}: the report's advice is the setcap line ({cause['evidence']})")
        check("setcap cap_bpf,cap_perfmon+p" in err, f"{flags}: on stderr too")

    # 2. The caller's environment, whole, reaches the command.
    env = dict(os.environ, TMPDIR="/tmp/dw-tmpdir", LD_LIBRARY_PATH="/nonexistent/lib", DW_PLAIN="plain")
    shown = subprocess.run(UNPRIV + [dw, "-q", "--", "sh", "-c", 'echo "$TMPDIR|$LD_LIBRARY_PATH|$DW_PLAIN"'],
                           env=env, capture_output=True, text=True, timeout=60)
    check(shown.stdout.strip() == "/tmp/dw-tmpdir|/nonexistent/lib|plain",
          f"{flags}: TMPDIR and LD_LIBRARY_PATH reach the command ({shown.stdout.strip()!r})")

    # 3. --pid reaches only what the caller could trace.
    roots = subprocess.Popen(["sleep", "300"])
    privileged = subprocess.Popen(UNPRIV + ["--inh-caps=+net_raw", "--ambient-caps=+net_raw", "sleep", "300"])
    try:
        for name, victim in (("root's process", roots.pid), ("a more privileged process of the same user", privileged.pid)):
            out = certificate_named(f"refused{flags}.json")
            r = subprocess.run(UNPRIV + [dw, "-o", out, "--pid", str(victim)], capture_output=True, text=True, timeout=30)
            lines = [l for l in r.stderr.splitlines() if l.strip()]
            check(r.returncode == 125 and len(lines) == 1 and "may not trace" in lines[0],
                  f"{flags}: --pid on {name} refused in one line, exit 125 ({r.returncode}, {lines})")
            check(not os.path.exists(out) and not os.path.exists(out + ".events"),
                  f"{flags}: nothing written for {name}")
            check(roots.poll() is None and privileged.poll() is None, f"{flags}: {name} untouched")
    finally:
        roots.kill()
        privileged.kill()
        roots.wait()
        privileged.wait()
    own = subprocess.Popen(UNPRIV + ["sleep", "300"])
    wait_until(lambda: proc_comm(own.pid) == "sleep", what="own sleep exec'd")
    out = certificate_named(f"own{flags}.json")
    watcher = subprocess.Popen(UNPRIV + [dw, "-q", "-o", out, "--pid", str(own.pid)], stderr=subprocess.PIPE)
    wait_for_attached(out)
    killer = subprocess.Popen(["sh", "-c", f"kill -TERM {own.pid}; sleep 1"])
    watcher.communicate(timeout=30)
    own.wait()
    killer.wait()
    cause = load(out)["cause"]
    check(cause["sender"] and cause["sender"]["pid"] == killer.pid,
          f"{flags}: --pid on the caller's own process works, SIGTERM sender named ({cause['sender']})")

# 4. A set-user-ID descendant is not the caller's: signals to it are not recorded (eBPF sees
# them; ptrace cannot trace it at all).
suid_dir = tempfile.mkdtemp(prefix="deathwatch-suid.")
os.chmod(suid_dir, 0o755)
if os.statvfs(suid_dir).f_flag & os.ST_NOSUID:
    skip(f"{suid_dir} is on a nosuid file system")
suid_sleep = os.path.join(suid_dir, "suid_sleep")
shutil.copy2(shutil.which("sleep"), suid_sleep)
os.chmod(suid_sleep, 0o4755)
pidfile = os.path.join(out_dir, "suid.pid")
out = certificate_named("suid.json")
proc = subprocess.Popen(UNPRIV + [copies["+p"], "-q", "-o", out, "--", "sh", "-c",
                                  f"{suid_sleep} 300 & echo $! > {pidfile}; wait; exec sleep 300"],
                        stderr=subprocess.PIPE)
wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(), what="set-uid child started")
suid_pid = int(open(pidfile).read())
wait_until(lambda: proc_comm(suid_pid) == "suid_sleep", what="set-uid child exec'd")
for _ in range(3):
    os.kill(suid_pid, signal.SIGUSR2 if _ == 2 else signal.SIGWINCH)
    time.sleep(0.1)
top = target_of(proc.pid)
time.sleep(0.3)
os.kill(top, signal.SIGTERM)
proc.communicate(timeout=30)
cert = load(out)
to_suid = [s for s in cert["signals"] if s["pid"] == suid_pid]
if MODE == "kernel":
    check(not to_suid, f"no signal to the set-uid descendant is recorded ({to_suid})")
else:
    # Traced, the set-uid program runs without its privilege: the caller's own process.
    check(to_suid, f"ptrace: the set-uid program ran as the caller's, its signals recorded ({len(to_suid)})")
check(any(s["signal"] == "SIGTERM" and s["pid"] == top for s in cert["signals"]),
      "the SIGTERM to the caller's own shell is")

# 5. hidepid=2: the caller cannot read root's command lines in /proc, nor does deathwatch show them.
out = certificate_named("hidepid.json")
script = (f"mount -t proc -o hidepid=2 proc /proc && exec {' '.join(UNPRIV)} {copies['+p']} -q -o {out} -- sleep 300")
proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script], stderr=subprocess.PIPE)
wait_for_attached(out)
target = load(out)["process"]["pid"]
sender = subprocess.Popen(["sh", "-c", f"kill -TERM {target}; sleep 1"])
_, err = proc.communicate(timeout=30)
sender.wait()
cause = load(out)["cause"]
print(err.decode())
check(cause["sender"] and cause["sender"]["pid"] == sender.pid if MODE == "kernel" else True,
      f"hidepid: the sender is still named by pid ({cause['sender']})")
check(cause["sender"] is None or not cause["sender"].get("cmdline"),
      "hidepid: its command line, hidden from the caller in /proc, is not shown")
check("kill -TERM" not in err.decode(), "hidepid: nor on stderr")

# 6. A caller with capabilities of its own (systemd's AmbientCapabilities= with User=) running
# a plain deathwatch: they are the caller's, and reach the command untouched.
plain = os.path.join(wd, "deathwatch_plain")
shutil.copy2(DEATHWATCH, plain)
ambient = UNPRIV + ["--inh-caps=+net_bind_service", "--ambient-caps=+net_bind_service"]
bare = subprocess.run(ambient + ["grep", "^Cap", "/proc/self/status"], capture_output=True, text=True).stdout
wrapped = subprocess.run(ambient + [plain, "-q", "--", "grep", "^Cap", "/proc/self/status"],
                         capture_output=True, text=True, timeout=60).stdout
check(wrapped == bare and "0000000000000400" in bare,
      f"a caller's own ambient capability reaches the command as in a bare run ({wrapped.split()})")

# 7. In a sticky world-writable directory (like /tmp), links planted by another user at FILE
# or FILE.events are neither followed nor clobbered.
sticky = tempfile.mkdtemp(prefix="deathwatch-sticky.")
os.chmod(sticky, 0o1777)
victim = os.path.join(sticky, "victim")
with open(victim, "w") as f:
    f.write("precious\n")
for name, plant in (("a symlink at FILE", lambda c: (os.symlink(victim, c), os.lchown(c, 65533, 65533))),
                    ("a hard link at FILE.events", lambda c: os.link(victim, c + ".events"))):
    cert = os.path.join(sticky, f"cert-{len(name)}.json")
    plant(cert)
    r = subprocess.run(UNPRIV + [copies["+p"], "-o", cert, "--", "true"], capture_output=True, text=True, timeout=30)
    check(r.returncode == 125 and len(r.stderr.strip().splitlines()) == 1,
          f"sticky directory, {name}: refused in one line ({r.returncode}: {r.stderr.strip()})")
    check(open(victim).read() == "precious\n", f"sticky directory, {name}: the victim file is untouched")
shutil.rmtree(sticky, ignore_errors=True)

# 8. --mode.
out = certificate_named("mode.json")
subprocess.run(UNPRIV + [copies["+p"], "-q", "--mode", "0600", "-o", out, "--", "true"], check=True, timeout=30)
check(os.stat(out).st_mode & 0o777 == 0o600 and os.stat(out + ".events").st_mode & 0o777 == 0o600,
      "--mode 0600 gives both files exactly that mode")
shutil.rmtree(wd, ignore_errors=True)
shutil.rmtree(suid_dir, ignore_errors=True)
