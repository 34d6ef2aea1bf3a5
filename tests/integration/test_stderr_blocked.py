"""deathwatch's stderr is a pipe nobody reads, already full: deathwatch must not hold the
command up (its -vv lines during the run are dropped, not waited for), must still end with
the command's exit status within its bounded patience, keep the certificate whole and
final, and say in it what it lost. The same with stderr a closed pipe (EPIPE)."""
import fcntl

from dwtest import *

wd = workdir()
SCRIPT = "trap : USR1; i=0; while [ $i -lt 200 ]; do kill -USR1 $$; i=$((i+1)); done; exit 3"


def full_pipe():
    r, w = os.pipe()
    flags = fcntl.fcntl(w, fcntl.F_GETFL)
    fcntl.fcntl(w, fcntl.F_SETFL, flags | os.O_NONBLOCK)
    try:
        while True:
            os.write(w, b"x" * 4096)
    except BlockingIOError:
        pass
    fcntl.fcntl(w, fcntl.F_SETFL, flags)  # deathwatch gets a blocking stream, as a shell gives
    return r, w


# Bare, for the command's own time.
start = time.monotonic()
subprocess.run(["sh", "-c", SCRIPT], timeout=60)
bare = time.monotonic() - start

r, w = full_pipe()
out = os.path.join(wd, "blocked.json")
start = time.monotonic()
proc = subprocess.Popen([DEATHWATCH, "-vv", "-o", out, "--", "sh", "-c", SCRIPT],
                        stderr=w, stdout=subprocess.DEVNULL)
os.close(w)
try:
    proc.wait(timeout=30)
except subprocess.TimeoutExpired:
    proc.kill()
    fail("deathwatch blocked on a stderr nobody reads")
elapsed = time.monotonic() - start
print(f"bare {bare:.2f}s, under deathwatch with a full stderr {elapsed:.2f}s")
check(proc.returncode == 3, f"exit status 3 mirrored ({proc.returncode})")
cert = load(out)
check(cert["final"] and cert["state"] == "final", "the certificate is final")
usr1 = [s for s in cert["signals"] if s["signal"] == "SIGUSR1"]
check(usr1 and sum(s["count"] for s in usr1) == 200, f"all 200 SIGUSR1 counted ({sum(s['count'] for s in usr1)})")
check(cert["process"]["runtime_s"] < bare + 1.5,
      f"the command was not held up by the blocked stderr: ran {cert['process']['runtime_s']:.2f}s (bare {bare:.2f}s)")
check(any("stderr" in w and "dropped" in w for w in cert["watcher"]["warnings"]),
      f"the certificate says what was lost on stderr ({cert['watcher']['warnings']})")
check(elapsed < cert["process"]["runtime_s"] + 2 * 2.0 + 3, f"deathwatch ended within its patience ({elapsed:.2f}s)")
os.close(r)

# A closed pipe: EPIPE, and no SIGPIPE death for deathwatch.
r, w = os.pipe()
os.close(r)
out = os.path.join(wd, "epipe.json")
proc = subprocess.run([DEATHWATCH, "-v", "-o", out, "--", "sh", "-c", "exit 4"], stderr=w, timeout=30)
os.close(w)
check(proc.returncode == 4, f"EPIPE on stderr: exit status 4 mirrored ({proc.returncode})")
check(load(out)["final"], "EPIPE on stderr: the certificate is final")
