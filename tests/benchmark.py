"""Overhead of deathwatch, printed as numbers (not asserted: timings vary by machine).

- signal storm: a program that sends itself N SIGUSR1 and handles them;
- fork loop: a shell that runs /bin/true N times (children are not traced by default);
- deathwatch's own peak RSS during the storm.
Each measurement is the median of several runs. Fails only if a run fails.
"""
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "integration"))
from dwtest import DEATHWATCH, program  # noqa: E402

REPEAT = 7


def timed(argv):
    start = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        print(f"FAIL: {' '.join(argv)} exited {proc.returncode}")
        sys.exit(1)
    return elapsed


def median(argv):
    return statistics.median(timed(argv) for _ in range(REPEAT))


def with_env(argv, **env):
    """argv run with extra environment variables, through env(1)."""
    return ["env"] + [f"{k}={v}" for k, v in env.items()] + argv


def compare(name, command):
    """Bare and watched runs interleaved (this VM drifts): medians per variant."""
    out = os.path.join(tempfile.mkdtemp(), "bench.json")
    variants = {"bare": command}
    for label, env in (("eBPF backend", {}), ("ptrace only", {"DEATHWATCH_NO_BPF": "1"})):
        variants[label] = with_env([DEATHWATCH, "-q", "--"] + command, **env)
        variants[label + " -o"] = with_env([DEATHWATCH, "-q", "-o", out, "--"] + command, **env)
    times = {label: [] for label in variants}
    for _ in range(REPEAT):
        for label, argv in variants.items():
            times[label].append(timed(argv))
    bare = statistics.median(times["bare"])
    print(f"{name}: bare {bare*1000:.1f} ms")
    for label in ("eBPF backend", "ptrace only"):
        watched = statistics.median(times[label])
        with_file = statistics.median(times[label + " -o"])
        print(f"  {label:<13} {watched*1000:8.1f} ms ({watched/bare:5.2f}x) | "
              f"with -o {with_file*1000:8.1f} ms ({with_file/bare:5.2f}x)")


STORM = [program("signal_storm"), "20000"]
FORKS = ["sh", "-c", "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done"]
compare("signal storm (20000 SIGUSR1)", STORM)
compare("signal storm (200000 SIGUSR1)", [program("signal_storm"), "200000"])
compare("start-up alone (true)", ["true"])
compare("fork loop (1000 x /bin/true)", FORKS)

# A process outside the watched set while deathwatch (eBPF) watches another: the kernel-side
# filter is one hash lookup per signal.
bare = median(STORM)
watcher = subprocess.Popen([DEATHWATCH, "-q", "--", "sleep", "600"], stderr=subprocess.DEVNULL)
time.sleep(0.5)
beside = median(STORM)
watcher.terminate()  # forwarded to its target: nothing is left behind
watcher.wait()
print(f"unwatched storm while deathwatch (eBPF) watches another process: {beside*1000:.1f} ms "
      f"vs {bare*1000:.1f} ms alone ({beside/bare:5.2f}x)")

# Peak RSS of deathwatch itself: run it as the only child of a fresh process.
probe = subprocess.run(
    [sys.executable, "-c",
     "import resource,subprocess,sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, "
     "stderr=subprocess.DEVNULL); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)",
     DEATHWATCH, "-q", "--", program("signal_storm"), "20000"],
    capture_output=True, text=True)
print(f"peak RSS of deathwatch or its target during the 20000-signal storm: {probe.stdout.strip()} KiB")
