"""A file system that fills up while the command runs, then has space again (a small tmpfs
the test mounts). The event log must never hold a torn line, deathwatch says once on stderr
what it could not write, the certificate catches up once space is back; and when the final
certificate cannot be written, deathwatch says so (one line) and still mirrors the
command's exit status."""
import glob

from dwtest import *

require_root()
if not have("mount") or not have("umount"):
    skip("mount/umount not installed")


def fill(directory):
    """Fills the file system until ENOSPC, to the last byte; returns the filler's path."""
    path = os.path.join(directory, "filler")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    for size in (65536, 4096, 256, 16, 1):
        while True:
            try:
                os.write(fd, b"\0" * size)
            except OSError:
                break
    os.close(fd)
    return path


def send_from_new_processes(pid, count):
    """`count` SIGUSR1 to pid, each from its own /bin/kill: distinct senders, each logged."""
    subprocess.run(["bash", "-c", f'for i in $(seq {count}); do /bin/kill -USR1 {pid}; done'], check=True)


def scenario(space_back):
    base = workdir()
    mnt = os.path.join(base, "mnt")
    os.mkdir(mnt)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mnt])
    if r.returncode != 0:
        skip("cannot mount a tmpfs here")
    try:
        cert = os.path.join(mnt, "cert.json")
        go = os.path.join(base, "go")
        # The target handles SIGUSR1 and exits 3 once the test says so.
        script = f'trap "" USR1; trap ":" USR1; while [ ! -e {go} ]; do sleep 0.02; done; exit 3'
        dw = start(["bash", "-c", script], output=cert, stderr=subprocess.PIPE)
        target = target_of(dw.pid, "bash")
        wait_until(lambda: os.path.exists(cert + ".events"), what="the event log")
        send_from_new_processes(target, 20)
        filler = fill(mnt)
        send_from_new_processes(target, 60)  # some lines cross into a page that is not there
        time.sleep(0.3)
        if space_back:
            os.unlink(filler)
            send_from_new_processes(target, 20)
            time.sleep(0.3)
        with open(go, "w"):
            pass
        _, err = dw.communicate(timeout=60)
        err = err.decode(errors="replace")
        print(err, end="")
        check(dw.returncode == 3, f"deathwatch mirrors the exit status 3 ({dw.returncode})")
        with open(cert + ".events", "rb") as f:
            raw = f.read()
        lines = raw.split(b"\n")
        check(lines[-1] == b"", "the event log ends with a whole line")
        parsed = []
        for line in lines[:-1]:
            try:
                parsed.append(json.loads(line))
            except ValueError:
                fail(f"a torn line in the event log: {line[:80]!r}")
        check(len(parsed) >= 20, f"{len(parsed)} whole lines, none torn")
        event_errors = [l for l in err.splitlines() if l.startswith("deathwatch: error:") and ".events" in l]
        check(len(event_errors) == 1, f"the event log's failure said once ({len(event_errors)} lines)")
        check(not glob.glob(cert + ".tmp.*"), "no temporary file left on the full file system")
        cert_json = load(cert)
        if space_back:
            check(cert_json["final"], "space came back: the final certificate is written")
            usr1 = sum(s["count"] for s in signals_named(cert_json, "SIGUSR1")) + cert_json["signals_not_listed"]
            # eBPF sees every signal sent. ptrace sees each delivery: two kills that land while
            # the target is held in a stop merge into one pending signal, which never reaches
            # the target (a slow sanitizer build: 84 of 90, CI 2026-12-03). A certificate that
            # did not catch up would miss the ~60 sent while the disk was full (~50 left, with
            # the SIGCHLDs not listed). The sanitizer build holds a stop longest: 74-98 there in
            # 12 runs, 98-100 normally.
            expected = 90 if MODE == "kernel" else (60 if SANITIZED else 72)
            check(usr1 >= expected, f"every signal counted in the certificate ({usr1} >= {expected})")
            check(any("could not be written" in w for w in cert_json["watcher"]["warnings"]),
                  f"the certificate says event lines are missing: {cert_json['watcher']['warnings']}")
            check(any(e.get("sender_pid") and e["signal"] == "SIGUSR1" for e in parsed[-5:]),
                  "lines logged again once space came back")
        else:
            finals = [l for l in err.splitlines() if "the final certificate was not written" in l]
            rewrites = [l for l in err.splitlines() if "retrying" in l]
            check(len(rewrites) <= 1, f"failed rewrites said at most once ({len(rewrites)} lines)")
            check(len(finals) == 1, f"one line says the final certificate was not written ({finals})")
            check(not cert_json["final"], "the certificate on disk is the last one written")
    finally:
        subprocess.run(["umount", "-l", mnt])


scenario(space_back=True)
scenario(space_back=False)
