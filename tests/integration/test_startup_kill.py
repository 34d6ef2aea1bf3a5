"""deathwatch killed while it starts the command (SIGKILL 5-30 ms in, while the eBPF programs
load) must leave nothing stopped behind: the command's pre-exec child once waited in state T
under init for good. And the command never finds a SIGCONT of deathwatch's pending, even
when started with SIGCONT blocked."""
from dwtest import *

marker = f"7.{os.getpid() % 97 + 1:02d}{int(time.time()) % 89 + 10}"


def processes_with_marker():
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if marker.encode() in argv:
            found.append(int(entry))
    return found


stopped = 0
for delay_ms in (0, 2, 5, 8, 12, 16, 20, 25, 30, 40):
    dw = subprocess.Popen([DEATHWATCH, "-q", "--", "sleep", marker], stderr=subprocess.DEVNULL)
    time.sleep(delay_ms / 1000)
    dw.kill()
    dw.wait()
    time.sleep(0.3)
    for pid in processes_with_marker():
        state = proc_state(pid)
        if state == "T":
            stopped += 1
            print(f"pid {pid} left stopped after a kill at {delay_ms} ms")
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
check(stopped == 0, "no process left stopped by a deathwatch killed during start-up")
wait_until(lambda: not processes_with_marker(), 10, "the leftovers to go")


def block_sigcont():
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGCONT])


proc = subprocess.run([DEATHWATCH, "-q", "--", "grep", "-E", "^(SigPnd|ShdPnd|SigBlk)", "/proc/self/status"],
                      capture_output=True, preexec_fn=block_sigcont, timeout=60)
fields = dict(line.split(":\t") for line in proc.stdout.decode().splitlines())
print(fields)
check(int(fields["SigBlk"], 16) & (1 << (signal.SIGCONT - 1)), "the command starts with SIGCONT blocked, as given")
check(int(fields["SigPnd"], 16) == 0 and int(fields["ShdPnd"], 16) == 0, "and finds no signal pending")
