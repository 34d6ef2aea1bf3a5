"""Shared helpers for deathwatch's integration tests.

Each test_*.py is one scenario: it starts real processes under deathwatch, sends real
signals, and checks the certificate against what the test itself knows (the pid it sent
from). A missing privilege or tool exits 77 with a printed reason; CTest reports a skip.
"""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

DEATHWATCH = os.environ.get("DEATHWATCH") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "deathwatch")
PROGRAMS = os.environ.get("PROGRAMS") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "programs")
SKIP = 77
# "kernel": deathwatch must use its eBPF backend; "ptrace": DEATHWATCH_NO_BPF=1 forces it off.
MODE = os.environ.get("DEATHWATCH_TEST_MODE", "ptrace" if os.environ.get("DEATHWATCH_NO_BPF") else "kernel")
if MODE == "ptrace":
    os.environ["DEATHWATCH_NO_BPF"] = "1"


# The sanitizer pass (scripts/test.sh): ASan and UBSan make deathwatch several times slower,
# so bounds on its own CPU time are scaled; what they check (no quadratic cost) still holds.
SANITIZED = "ASAN_OPTIONS" in os.environ
CPU_SCALE = 4.0 if SANITIZED else 1.0


def skip(reason):
    print(f"SKIP: {reason}")
    sys.exit(SKIP)


def fail(message):  # noqa: E302
    print(f"FAIL: {message}")
    sys.exit(1)


def check(condition, message):
    if not condition:
        fail(message)
    print(f"ok: {message}")


def program(name):
    path = os.path.join(PROGRAMS, name)
    if not os.path.exists(path):
        fail(f"scenario program {path} is not built")
    return path


def require_root():
    if os.geteuid() != 0:
        skip("needs root")


def workdir():
    base = os.environ.get("TEST_WORK") or tempfile.gettempdir()
    os.makedirs(base, exist_ok=True)
    return tempfile.mkdtemp(prefix=os.path.basename(sys.argv[0]) + ".", dir=base)


def compiled_java(name):
    """tests/java/<name>.java compiled into a new work directory (returned), or a skip when
    there is no JDK."""
    if not (have("javac") and have("java")):
        skip("javac/java not installed (the test setup installs default-jdk-headless)")
    wd = workdir()
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "java", name + ".java")
    subprocess.run(["javac", "-d", wd, src], check=True)
    return wd


def start(command, output=None, extra=(), **popen):
    """Starts deathwatch [-o output] [extra] -- command; returns the Popen."""
    args = [DEATHWATCH]
    if output:
        args += ["-o", output]
    args += list(extra) + ["--"] + list(command)
    proc = subprocess.Popen(args, **popen)
    _started.append(proc)
    return proc


# Every deathwatch a test started. A test that fails half-way (a check, an exception) would
# leave it and its command (say a stopped `sleep 300`) holding CTest's output pipe, turning
# a one-line failure into a 300 s timeout; at exit, whatever is still alive is killed.
_started = []


def _descendants(pid):
    found = []
    for child in children_of(pid):
        found += _descendants(child) + [child]
    return found


@atexit.register
def _kill_leftovers():
    for proc in _started:
        if proc.poll() is not None:
            continue
        for pid in _descendants(proc.pid) + [proc.pid]:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        proc.wait()


def run(command, output=None, extra=(), timeout=120, **popen):
    proc = start(command, output, extra, stderr=subprocess.PIPE, **popen)
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        fail(f"deathwatch did not finish within {timeout}s: {command}")
    err = err.decode(errors="replace")
    print(err, end="")
    return proc.returncode, err


def peak_rss_until_exit(proc, interval=0.02):
    """Waits for `proc` (deathwatch) to end, sampling its VmHWM; returns the peak in KiB."""
    peak = 0
    while proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]))
        except OSError:
            pass
        time.sleep(interval)
    return peak


def wait_until(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    fail(f"timed out waiting for {what}")


def children_of(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def target_of(deathwatch_pid, comm=None, timeout=20.0):
    """The pid of deathwatch's child once it has exec'd (its comm is `comm` when given)."""
    def found():
        for child in children_of(deathwatch_pid):
            if comm is None or proc_comm(child) == comm:
                return child
        return None
    return wait_until(found, timeout, f"deathwatch's child {comm or ''}")


def proc_comm(pid):
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return None


def proc_state(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def load(path):
    """Reads a certificate; checks it was made by the backend this run is about."""
    with open(path) as f:
        cert = json.load(f)
    backends = {b["name"]: b for b in cert["watcher"]["backends"]}
    if MODE == "kernel" and "ebpf" in backends and not backends["ebpf"]["active"]:
        fail(f"kernel-mode run without the eBPF backend: {backends['ebpf']['detail']}")
    if MODE == "ptrace" and backends.get("ebpf", {}).get("active"):
        fail("ptrace-mode run used the eBPF backend")
    return cert


def require_mode_prerequisites():
    if MODE == "kernel" and os.geteuid() != 0:
        skip("the eBPF backend needs root (or CAP_BPF and CAP_PERFMON)")


def signals_named(cert, name):
    return [s for s in cert["signals"] if s["signal"] == name]


def killed_by(returncode, signo):
    """deathwatch mirrors a death by signal S by dying of S itself."""
    return returncode == -signo


def have(tool):
    return shutil.which(tool) is not None


require_mode_prerequisites()


class MemoryCgroup:
    """A memory cgroup with a limit, made by the test (v1 memory controller, or v2 where the
    unified tree has the memory controller) and removed afterwards. Needs root."""

    def __init__(self, limit_bytes):
        name = f"deathwatch-test-{os.getpid()}"
        if os.path.isdir("/sys/fs/cgroup/memory"):
            self.version = 1
            self.path = os.path.join("/sys/fs/cgroup/memory", name)
            os.mkdir(self.path)
            self._write("memory.limit_in_bytes", str(limit_bytes))
        else:
            root = "/sys/fs/cgroup"
            with open(os.path.join(root, "cgroup.controllers")) as f:
                if "memory" not in f.read().split():
                    skip("no memory cgroup controller (neither v1 nor v2)")
            self.version = 2
            with open(os.path.join(root, "cgroup.subtree_control"), "w") as f:
                f.write("+memory")
            self.path = os.path.join(root, name)
            os.mkdir(self.path)
            self._write("memory.max", str(limit_bytes))
            self._write("memory.swap.max", "0")

    def _write(self, name, value):
        try:
            with open(os.path.join(self.path, name), "w") as f:
                f.write(value)
        except OSError:
            if name != "memory.swap.max":
                raise

    def enter_command(self, command):
        """A shell command line that moves itself into the cgroup, then execs `command`."""
        import shlex
        procs = os.path.join(self.path, "cgroup.procs")
        return ["sh", "-c", f"echo $$ > {procs} && exec {' '.join(shlex.quote(c) for c in command)}"]

    def oom_kills(self):
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        with open(os.path.join(self.path, name)) as f:
            for line in f:
                if line.startswith("oom_kill "):
                    return int(line.split()[1])
        return None

    def remove(self):
        for _ in range(100):
            try:
                os.rmdir(self.path)
                return
            except OSError:
                time.sleep(0.05)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
