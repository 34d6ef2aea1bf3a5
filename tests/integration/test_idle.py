"""A wrapped service that runs for months must not cost anything while nothing happens:
deathwatch, watching an idle command, is not woken at all (no periodic timer; with eBPF the
kernel wakes it when a record arrives) and its memory does not grow. Then a burst of
signals and children wakes it, it collects them, and it goes back to sleep: the same
counters hold still again. A 100 ms poll would show ~20 wake-ups in each window."""
from dwtest import *

require_mode_prerequisites()
wd = workdir()
out = os.path.join(wd, "idle.json")
WINDOW = 2.0
# Idle until told (SIGUSR1), then a burst of its own signals and of children, then idle again.
SCRIPT = ("trap 'n=0; while [ $n -lt 200 ]; do kill -s USR2 $$; /bin/true; n=$((n+1)); done; "
          "echo burst-done > burst' USR1; trap : USR2; while [ ! -e stop ]; do sleep 60 & wait $!; done; exit 0")


def status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def still_window(pid, what):
    switches = status(pid, "voluntary_ctxt_switches") + status(pid, "nonvoluntary_ctxt_switches")
    rss = status(pid, "VmRSS")
    time.sleep(WINDOW)
    woken = status(pid, "voluntary_ctxt_switches") + status(pid, "nonvoluntary_ctxt_switches") - switches
    grown = status(pid, "VmRSS") - rss
    print(f"{what}: {woken} wake-up(s) and {grown:+d} KiB of RSS in {WINDOW:.0f} s")
    # At most one: a stray scheduling event, never a timer (20 in this window at 100 ms).
    check(woken <= 1, f"{what}: deathwatch not woken while the command is idle ({woken} in {WINDOW:.0f} s)")
    check(grown <= 0, f"{what}: deathwatch's RSS does not grow while idle ({grown:+d} KiB)")


dw = start(["sh", "-c", SCRIPT], output=out, cwd=wd)
target = target_of(dw.pid, "sh")
wait_until(lambda: os.path.exists(out + ".events"), what="event log created")
time.sleep(1.0)  # started, its first sleep child forked, the first certificate written
# Idle, deathwatch dropped the pages only start-up used (working_set.h): its RSS is well
# below its high-water mark (ptrace: ~1.3 of ~4.9 MiB; eBPF: ~4.1 of ~8 MiB, 2.5 of them the
# ring buffer's mapping). ASan's shadow memory is anonymous and stays: printed only.
rss, peak = status(dw.pid, "VmRSS"), status(dw.pid, "VmHWM")
print(f"idle after start: RSS {rss} KiB (file-backed {status(dw.pid, 'RssFile')} KiB), peak {peak} KiB")
if not SANITIZED:
    check(rss <= peak - 1024, f"start-up pages dropped once idle: RSS {rss} KiB <= peak {peak} KiB - 1 MiB")
still_window(dw.pid, "after start")

os.kill(target, signal.SIGUSR1)
wait_until(lambda: os.path.exists(os.path.join(wd, "burst")), what="the burst ran")
wait_until(lambda: "SIGUSR2" in open(out + ".events").read(), what="the burst's signals collected")
time.sleep(1.0)  # the batch period after the burst, and the certificate rewritten
still_window(dw.pid, "after a burst")

open(os.path.join(wd, "stop"), "w").close()
for child in children_of(target):  # its `sleep 60`: then the loop sees `stop` and ends
    os.kill(child, signal.SIGKILL)
check(dw.wait(timeout=20) == 0, "the command ended by itself, and deathwatch with it")
cert = load(out)
check(len(signals_named(cert, "SIGUSR2")) >= 1, "the burst's signals are in the certificate")
