"""Load, in both modes: 100,000 self-sent handled signals, 10,000 children, 2,000 live
threads. Each is traced to the end with exact counts, and deathwatch's memory stays bounded;
the numbers (signals per second, deathwatch's peak RSS) are printed for the record."""
from dwtest import *

wd = workdir()
# Under the sanitizer pass ASan's shadow memory and its 256 MiB quarantine of freed blocks
# count in deathwatch's RSS: the bound is about growth there, not the figure.
RSS_BOUND_KIB = (1 << 20) if "ASAN_OPTIONS" in os.environ else 64 * 1024


def watch(name, command):
    """Runs command under deathwatch, sampling deathwatch's VmHWM; returns (rc, cert, peak KiB, seconds)."""
    out = os.path.join(wd, name + ".json")
    began = time.monotonic()
    proc = start(command, output=out, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = peak_rss_until_exit(proc)
    elapsed = time.monotonic() - began
    err = proc.stderr.read().decode()
    if proc.returncode != 0:
        print(err)
    return proc.returncode, load(out), peak, elapsed


N_SIGNALS = 100000
rc, cert, peak, elapsed = watch("signals", [program("signal_storm"), str(N_SIGNALS)])
usr1 = sum(s["count"] for s in cert["signals"] if s["signal"] == "SIGUSR1")
print(f"[{MODE}] {N_SIGNALS} signals: {elapsed:.2f}s, {N_SIGNALS / elapsed:,.0f} signals/s, "
      f"deathwatch peak RSS {peak} KiB")
check(rc == 0, "every signal reached its handler (the program checks its own count)")
lost = sum(int(w.split()[0]) for w in cert["watcher"]["warnings"] if "kernel events were lost" in w)
if SANITIZED and lost:
    # ASan's deathwatch drains the ring buffer too slowly for this storm: the kernel counts
    # what it could not queue, and the certificate says so. Every signal is still accounted for.
    check(usr1 <= N_SIGNALS <= usr1 + lost, f"{usr1} counted, {lost} kernel events said lost: all {N_SIGNALS} accounted for")
else:
    check(usr1 == N_SIGNALS, f"exactly {N_SIGNALS} SIGUSR1 counted ({usr1})")
check(peak < RSS_BOUND_KIB, f"deathwatch's peak RSS bounded ({peak} KiB < {RSS_BOUND_KIB} KiB)")
with open(os.path.join(wd, "signals.json.events")) as f:
    lines = sum(1 for _ in f)
check(lines < 100, f"the event log stays bounded ({lines} lines)")

N_CHILDREN = 10000
script = f"i=0; while [ $i -lt {N_CHILDREN} ]; do /bin/true; i=$((i+1)); done"
rc, cert, peak, elapsed = watch("children", ["sh", "-c", script])
n = cert["descendants_summary"]
print(f"[{MODE}] {N_CHILDREN} children: {elapsed:.2f}s, {elapsed / N_CHILDREN * 1e6:.0f} us per child, "
      f"deathwatch peak RSS {peak} KiB")
check(rc == 0, "exit 0")
check(n["started"] == N_CHILDREN and n["exited_normally"] == N_CHILDREN,
      f"all {N_CHILDREN} children started and counted ({n})")
check(peak < RSS_BOUND_KIB, f"deathwatch's peak RSS bounded ({peak} KiB < {RSS_BOUND_KIB} KiB)")

N_THREADS = 2000
rc, cert, peak, elapsed = watch("threads", [program("many_threads"), str(N_THREADS), "7"])
if rc == 100:
    fail("the threads could not be created (limits)")
print(f"[{MODE}] {N_THREADS} threads: {elapsed:.2f}s, deathwatch peak RSS {peak} KiB")
check(rc == 7 and cert["outcome"]["exit_code"] == 7, f"traced to the end: exit 7 ({rc})")
check(peak < RSS_BOUND_KIB, f"deathwatch's peak RSS bounded ({peak} KiB < {RSS_BOUND_KIB} KiB)")
