"""Two senders race for one SIGTERM (issue 8 item 8). The target blocks SIGTERM with a handler
installed; Y sends (pending), X sends (the kernel merges it into Y's: "already pending");
the target unblocks (its handler runs once), restores SIG_DFL, and X sends again: that copy
kills it. The cause must name X, the sender of the copy that was delivered last, not Y."""
from dwtest import *

for attempt in range(3):  # repeated: the scenario depends on real timing
    out = os.path.join(workdir(), "cert.json")
    dw = start([program("merged_term")], output=out, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    check(dw.stdout.readline().strip() == b"ready", "target blocks SIGTERM with a handler installed")
    target = target_of(dw.pid, "merged_term")
    y = subprocess.Popen(["bash", "-c", f"kill -TERM {target} && echo sent && exec sleep 10"],
                         stdout=subprocess.PIPE)
    check(y.stdout.readline().strip() == b"sent", "Y sent SIGTERM (pending: blocked)")
    x = subprocess.Popen(["bash", "-c", f"kill -TERM {target} && echo sent && read && kill -TERM {target} "
                          "&& echo sent && exec sleep 10"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    check(x.stdout.readline().strip() == b"sent", "X sent SIGTERM (merged into Y's pending copy)")
    dw.stdin.write(b"go\n")
    dw.stdin.flush()
    check(dw.stdout.readline().strip() == b"handled", "the target handled the pending SIGTERM once")
    check(dw.stdout.readline().strip() == b"default", "the target restored SIG_DFL")
    x.stdin.write(b"\n")
    x.stdin.flush()
    check(x.stdout.readline().strip() == b"sent", "X sent SIGTERM again")
    dw.wait(timeout=30)
    for p in (x, y):
        p.kill()
        p.wait()
    check(killed_by(dw.returncode, signal.SIGTERM), f"the target died of SIGTERM ({dw.returncode})")
    cert = load(out)
    c = cert["cause"]
    check(c["category"] == "signal" and c["signal"] == "SIGTERM", f"cause signal SIGTERM ({c['summary']})")
    check(c["sender"] is not None and c["sender"]["pid"] == x.pid,
          f"the cause names X (pid {x.pid}), not Y (pid {y.pid}): {c['summary']}")
    if MODE == "kernel":
        from_x = [s for s in signals_named(cert, "SIGTERM") if (s["sender"] or {}).get("pid") == x.pid]
        check(len(from_x) == 1 and from_x[0]["count"] == 2, "X's two copies are one record with count 2")
        check(from_x[0]["kernel_result"] == "delivered", "the record keeps the last copy's kernel result")
