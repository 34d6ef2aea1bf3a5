#!/usr/bin/env python3
"""deathwatch's overhead beside the physical limit (the command run bare) and strace.

Each workload runs bare, under `strace -f -e trace=none -o /dev/null` (with and without
--seccomp-bpf), and under `deathwatch -q -o FILE --` with its eBPF backend and with
DEATHWATCH_NO_BPF=1 (ptrace), interleaved round by round (this VM drifts), and one table is
printed: median, min-max and ratio to bare. Then the watcher's own memory: its RSS while it
watches `sleep` (steady) and its peak RSS (VmHWM) following the fork loop, for deathwatch and
strace alike. Numbers only: nothing is asserted.

    python3 bench/run.py [--rounds N] [--only NAME] [--scale]   (as root, for the eBPF backend)

--scale adds how the cost grows: the extra time per signal (1,000 to 200,000 self-sent
SIGUSR1) and per child (10 to 10,000 /bin/true from sh), the fixed cost (the same workload
with one) subtracted, with the watcher's peak RSS at each size.

Needs the build (build/deathwatch, build/programs/signal_storm), strace and java on PATH.
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
DEATHWATCH = os.environ.get("DEATHWATCH") or os.path.join(HERE, "..", "build", "deathwatch")
PROGRAMS = os.environ.get("PROGRAMS") or os.path.join(HERE, "..", "build", "programs")
OUT = os.path.join(tempfile.mkdtemp(prefix="deathwatch-bench."), "certificate.json")

TRACERS = {
    "bare": ([], {}),
    "strace -f": (["strace", "-f", "-e", "trace=none", "-o", "/dev/null"], {}),
    "strace -f --seccomp-bpf": (["strace", "-f", "--seccomp-bpf", "-e", "trace=none", "-o", "/dev/null"], {}),
    "deathwatch eBPF": ([DEATHWATCH, "-q", "-o", OUT, "--"], {}),
    "deathwatch ptrace": ([DEATHWATCH, "-q", "-o", OUT, "--"], {"DEATHWATCH_NO_BPF": "1"}),
}


def workloads():
    storm = os.path.join(PROGRAMS, "signal_storm")
    return {
        "start-up: true": ["true"],
        "java -version": ["java", "-version"],
        "1000 x /bin/true from sh": ["sh", "-c", "i=0; while [ $i -lt 1000 ]; do /bin/true; i=$((i+1)); done"],
        "20,000 self-sent SIGUSR1": [storm, "20000"],
        "200,000 self-sent SIGUSR1": [storm, "200000"],
        "CPU-bound (sh loop)": ["sh", "-c", "i=0; while [ $i -lt 1500000 ]; do i=$((i+1)); done"],
    }


def run_once(prefix, env, command):
    full_env = dict(os.environ, **env)
    start = time.perf_counter()
    proc = subprocess.run(prefix + command, env=full_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(prefix + command)} exited {proc.returncode}")
    return elapsed


def status_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def watcher_memory(prefix, env, command, steady_after=None):
    """(RSS at `steady_after` seconds or None, peak VmHWM) of the watcher process itself."""
    proc = subprocess.Popen(prefix + command, env=dict(os.environ, **env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    began, steady, peak = time.monotonic(), None, 0
    while proc.poll() is None:
        hwm = status_kib(proc.pid, "VmHWM")
        if hwm:
            peak = max(peak, hwm)
        if steady_after is not None and steady is None and time.monotonic() - began >= steady_after:
            steady = status_kib(proc.pid, "VmRSS")
        time.sleep(0.01)
    return steady, peak


def timed_peak(prefix, env, command):
    """(seconds, the watcher's peak VmHWM in KiB) of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(prefix + command, env=dict(os.environ, **env),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, status_kib(proc.pid, "VmHWM") or 0)
        time.sleep(0.005)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(prefix + command)} exited {proc.returncode}")
    return elapsed, peak


def plural(unit, n):
    return unit if n == 1 else "children" if unit == "child" else unit + "s"


def scale_table(tracers, rounds):
    """Marginal cost per unit and peak RSS, from small to large. The same workload with one
    signal or one child gives each tracer's fixed cost (start-up, and the certificate
    rewritten once there is a signal or a descendant to tell of), which is subtracted: what
    is left, divided by the units beyond the first, is what each signal or child costs."""
    storm = os.path.join(PROGRAMS, "signal_storm")
    fork_loop = "i=0; while [ $i -lt {n} ]; do /bin/true; i=$((i+1)); done"
    sizes = [("signal", n, [storm, str(n)]) for n in (1000, 10000, 100000, 200000)]
    sizes += [("child", n, ["sh", "-c", fork_loop.format(n=n)]) for n in (10, 100, 1000, 10000)]
    watchers = [t for t in tracers if t.startswith("deathwatch")]
    fixed = {}
    # Small sizes differ from the fixed cost by less than its noise: they get more rounds.
    for unit, command in (("signal", [storm, "1"]), ("child", ["sh", "-c", fork_loop.format(n=1)])):
        fixed[unit] = {t: statistics.median(run_once(*tracers[t], command) for _ in range(rounds * 5))
                       for t in ["bare"] + watchers}
    print()
    print("| size | bare | " + " | ".join(f"{t}: extra per unit, peak RSS" for t in watchers) + " |")
    print("|" + "---|" * (len(watchers) + 2))
    for unit, n, command in sizes:
        times = {t: [] for t in ["bare"] + watchers}
        peaks = {t: [] for t in watchers}
        for _ in range(rounds * 5 if n <= 1000 else rounds):
            times["bare"].append(run_once([], {}, command))
            for t in watchers:
                elapsed, peak = timed_peak(*tracers[t], command)
                times[t].append(elapsed)
                peaks[t].append(peak)
        bare = statistics.median(times["bare"])
        cells = []
        for t in watchers:
            extra = statistics.median(times[t]) - bare - (fixed[unit][t] - fixed[unit]["bare"])
            cells.append(f"{extra / (n - 1) * 1e6:.2f} us/{unit}, {statistics.median(peaks[t]) / 1024:.1f} MiB")
        print(f"| {n:,} {plural(unit, n)} | {fmt_ms(bare)} | " + " | ".join(cells) + " |", flush=True)


def fmt_ms(seconds):
    return f"{seconds * 1000:.0f} ms" if seconds >= 0.1 else f"{seconds * 1000:.1f} ms"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--only", help="run only the workloads whose name contains this")
    parser.add_argument("--scale", action="store_true", help="also the cost per signal and per child, by size")
    args = parser.parse_args()
    tracers = {name: t for name, t in TRACERS.items() if not name.startswith("strace") or shutil.which("strace")}
    chosen = {name: cmd for name, cmd in workloads().items() if not args.only or args.only in name}
    if "java -version" in chosen and not shutil.which("java"):
        del chosen["java -version"]
    if os.geteuid() != 0:
        print("bench: not root: the eBPF column falls back to ptrace unless deathwatch has its capabilities")
    print(f"bench: {args.rounds} rounds, interleaved; {os.cpu_count()} CPUs; kernel {os.uname().release}")

    header = f"| workload | " + " | ".join(tracers) + " |"
    print()
    print(header)
    print("|" + "---|" * (len(tracers) + 1))
    for name, command in chosen.items():
        times = {t: [] for t in tracers}
        for _ in range(args.rounds):
            for tracer, (prefix, env) in tracers.items():
                times[tracer].append(run_once(prefix, env, command))
        bare = statistics.median(times["bare"])
        cells = []
        for tracer in tracers:
            m = statistics.median(times[tracer])
            spread = f"{fmt_ms(min(times[tracer]))}–{fmt_ms(max(times[tracer]))}"
            cells.append(f"{fmt_ms(m)} ({spread})" if tracer == "bare" else f"{m / bare:.2f}× {fmt_ms(m)} ({spread})")
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)

    print()
    print("| watcher's memory | " + " | ".join(t for t in tracers if t != "bare") + " |")
    print("|" + "---|" * len(tracers))
    fork_loop = workloads()["1000 x /bin/true from sh"]
    steady_row, peak_row = [], []
    for tracer, (prefix, env) in tracers.items():
        if tracer == "bare":
            continue
        steady = statistics.median(watcher_memory(prefix, env, ["sleep", "2"], steady_after=1.0)[0] or 0 for _ in range(3))
        peak = statistics.median(watcher_memory(prefix, env, fork_loop)[1] for _ in range(3))
        steady_row.append(f"{steady / 1024:.1f} MiB")
        peak_row.append(f"{peak / 1024:.1f} MiB")
    print("| RSS while watching `sleep` | " + " | ".join(steady_row) + " |")
    print("| peak RSS following the fork loop | " + " | ".join(peak_row) + " |")
    if args.scale:
        scale_table(tracers, args.rounds)


if __name__ == "__main__":
    main()
