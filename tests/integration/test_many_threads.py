"""Thousands of live threads: deathwatch's own CPU time stays near the target's.

A target starts N threads that are all alive at once, holds them until the test has seen
every one (in ptrace mode each must be traced by deathwatch), then lets them all end and
exits with code 3. deathwatch's own user+system time (read from its zombie's
/proc/PID/stat, so the target's time is not in it) is compared with the CPU time of the same
program run bare.

Regression: ptrace mode collected a rusage with every wait status, and for each the kernel
sums the times of every thread of the group (getrusage RUSAGE_BOTH in wait_task_stopped and
wait_task_zombie): quadratic, ~3 s of deathwatch's CPU for 4,000 threads where the target
itself needs ~1 s.
"""
import resource

from dwtest import *

N = 4000
EXIT_CODE = 3
PROGRAM = program("many_threads")
COMMAND = [PROGRAM, str(N), str(EXIT_CODE), "hold"]


def read_ready(proc, who):
    line = proc.stdout.readline().strip()
    if line != f"ready {N}".encode():
        proc.stdin.close()
        proc.wait(timeout=60)
        if proc.returncode == 100:  # the program's own report: pthread_create failed
            skip(f"cannot start {N} threads here (thread or memory limits)")
        fail(f"{who}: expected 'ready {N}', got {line!r} (exit {proc.returncode})")


def bare_cpu():
    """User+system seconds of the program run without deathwatch."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    read_ready(proc, "bare run")
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    proc.wait(timeout=60)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    check(proc.returncode == EXIT_CODE, f"bare run exits {EXIT_CODE}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def own_cpu_at_exit(pid, timeout=120):
    """deathwatch's own user+system seconds, read from its zombie before it is reaped."""
    deadline = time.monotonic() + timeout
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT | os.WNOHANG) is None:
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            fail(f"deathwatch did not finish within {timeout}s")
        time.sleep(0.02)
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks  # utime, stime (state is fields[0])


bare = bare_cpu()

out = os.path.join(workdir(), "cert.json")
dw = start(COMMAND, output=out, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
read_ready(dw, "deathwatch")
target = target_of(dw.pid)
tasks = os.listdir(f"/proc/{target}/task")
check(len(tasks) == N + 1, f"{N + 1} tasks alive at once in the target ({len(tasks)})")
if MODE == "ptrace":
    untraced = []
    for tid in tasks:
        try:
            with open(f"/proc/{target}/task/{tid}/status") as f:
                tracer = int([l for l in f if l.startswith("TracerPid:")][0].split()[1])
        except OSError:
            tracer = None
        if tracer != dw.pid:
            untraced.append(tid)
    check(not untraced, f"every thread traced by deathwatch ({len(untraced)} not: {untraced[:5]})")
dw.stdin.write(b"go\n")
dw.stdin.close()
own = own_cpu_at_exit(dw.pid)
dw.wait()
print(f"{N} live threads: deathwatch's own CPU {own:.2f}s, the program bare {bare:.2f}s")

check(dw.returncode == EXIT_CODE, f"deathwatch mirrors exit code {EXIT_CODE} ({dw.returncode})")
cert = load(out)
check(cert["final"], "certificate is final")
check(cert["outcome"]["kind"] == "exited" and cert["outcome"]["exit_code"] == EXIT_CODE,
      f"outcome: exited with {EXIT_CODE}")
check(cert["cause"]["category"] == "exit", "cause: exit")
check(not cert["signals"], "no signals recorded (threads ending send none)")
check(not [w for w in cert["watcher"]["warnings"] if "lost" in w], "no kernel events lost")
check(cert["resources"]["max_rss_kib"], "the target's own rusage collected")
# Linear work per thread costs about what the program itself spends making and ending its
# threads; the quadratic cost was three times that and more.
budget = (0.5 + 1.5 * bare) * CPU_SCALE
check(own < budget, f"deathwatch's own CPU {own:.2f}s under {budget:.2f}s (0.5s + 1.5 x bare)")
