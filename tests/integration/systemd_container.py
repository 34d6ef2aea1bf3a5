"""A real systemd to test against: a Debian 12 root made once by debootstrap (cached in the
build tree), booted with `systemd-nspawn --boot`, driven with `nsenter -a` into its PID 1.

systemd 252 and journald run inside, so units, stop timeouts, Type=notify, Restart= and
`journalctl` are the real ones, not fakes. Used by test_systemd.py."""
import fcntl
import os
import signal
import subprocess
import time

from dwtest import check, fail, have, skip

MIRROR = os.environ.get("DEATHWATCH_DEBIAN_MIRROR", "http://deb.debian.org/debian")
# What the package's Depends need beyond minbase, and what the scenarios run.
PACKAGES = "systemd,systemd-sysv,dbus,libbpf1,libdw1,libelf1,procps,rsyslog"


def require_tools():
    for tool in ("debootstrap", "systemd-nspawn", "nsenter", "cpack", "dpkg-deb"):
        if not have(tool):
            skip(f"{tool} not installed (scripts/setup.sh installs it)")


def cached_root(build_dir):
    """The booted root, made once per build tree; a lock lets both modes share it."""
    root = os.path.join(build_dir, "systemd-root")
    with open(root + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = os.path.join(root, ".complete")
        if not os.path.exists(stamp) or open(stamp).read() != PACKAGES:
            subprocess.run(["rm", "-rf", root], check=True)
            began = time.monotonic()
            r = subprocess.run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", "bookworm", root, MIRROR],
                               capture_output=True, text=True, timeout=1200)
            if r.returncode != 0:
                print(r.stdout[-3000:], r.stderr[-3000:])
                fail(f"debootstrap of Debian 12 from {MIRROR} failed")
            print(f"debootstrap: {time.monotonic() - began:.0f}s")
            with open(stamp, "w") as f:
                f.write(PACKAGES)
    return root


class SystemdContainer:
    """One boot of the root; `run` executes a command inside, as root, in all its namespaces."""

    def __init__(self, root, name):
        self.root = root
        self.nspawn = subprocess.Popen(
            ["systemd-nspawn", "-q", "-D", root, "--boot", "--register=no", "--keep-unit",
             "--console=pipe", "-M", name],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        self.pid = self._wait_for_init()
        state = ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            state = self.run(["systemctl", "is-system-running"], check=False).stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        check(state in ("running", "degraded"), f"systemd booted in the container ({state})")

    def _wait_for_init(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.nspawn.poll() is not None:
                fail(f"systemd-nspawn exited {self.nspawn.returncode}: {self.nspawn.stderr.read().decode()[-2000:]}")
            try:
                with open(f"/proc/{self.nspawn.pid}/task/{self.nspawn.pid}/children") as f:
                    children = f.read().split()
                for child in children:
                    with open(f"/proc/{child}/comm") as f:
                        if f.read().strip() == "systemd":
                            return int(child)
            except OSError:
                pass
            time.sleep(0.05)
        fail("systemd did not start in the container")

    def run(self, command, check=True, timeout=120, input=None):
        r = subprocess.run(["nsenter", "-t", str(self.pid), "-a", "--"] + list(command), capture_output=True,
                           text=True, timeout=timeout, input=input)
        if check and r.returncode != 0:
            fail(f"in the container, {command} exited {r.returncode}: {r.stdout[-1500:]} {r.stderr[-1500:]}")
        return r

    def shell(self, script, check=True, timeout=120):
        return self.run(["sh", "-c", script], check=check, timeout=timeout)

    def show(self, unit, *properties):
        args = ["systemctl", "show", unit]
        for p in properties:
            args += ["-p", p]
        values = {}
        for line in self.run(args).stdout.splitlines():
            key, _, value = line.partition("=")
            values[key] = value
        return values

    def wait_for(self, unit, prop, wanted, timeout=60):
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.show(unit, prop)[prop]
            if value in wanted:
                return value
            time.sleep(0.1)
        fail(f"{unit}: {prop} stayed {value}, not {wanted}")

    def write(self, path, text):
        full = os.path.join(self.root, path.lstrip("/"))
        os.makedirs(os.path.dirname(full), exist_ok=True)
        with open(full, "w") as f:
            f.write(text)

    def read(self, path):
        with open(os.path.join(self.root, path.lstrip("/"))) as f:
            return f.read()

    def close(self):
        if self.nspawn.poll() is None:
            self.run(["systemctl", "poweroff", "--no-block"], check=False, timeout=30)
            try:
                self.nspawn.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.nspawn.pid, signal.SIGKILL)
                self.nspawn.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
