"""A bash script whose child `sleep` is killed by SIGTERM from a process the test started:
the descendant entry names that sender, the script's exit code (143) is mirrored, and the
root cause is the sleep's death."""
from dwtest import *

for attempt in range(2):
    out = os.path.join(workdir(), "cert.json")
    dw = start(["bash", "-c", "sleep 300; exit $?"], output=out, stderr=subprocess.PIPE)
    script = target_of(dw.pid, "bash")
    sleeper = wait_until(lambda: next((c for c in children_of(script) if proc_comm(c) == "sleep"), None),
                         what="the script's sleep")
    sender = subprocess.Popen(["bash", "-c", f"kill -TERM {sleeper}; sleep 1; true"])
    _, err = dw.communicate(timeout=30)
    sender.wait()
    print(err.decode())
    check(dw.returncode == 143, f"script exit code 143 mirrored ({dw.returncode})")
    cert = load(out)
    d = [x for x in cert["descendants"] if x["pid"] == sleeper]
    check(len(d) == 1, "the sleep is listed among the descendants")
    d = d[0]
    check(d["ppid"] == script and d["argv"] == ["sleep", "300"], f"parent and argv ({d['ppid']}, {d['argv']})")
    check(d["outcome"]["kind"] == "killed" and d["outcome"]["signal"] == "SIGTERM", "killed by SIGTERM")
    check(d["cause"]["category"] == "signal" and d["cause"]["sender"]["pid"] == sender.pid,
          f"descendant's sender is the test's bash ({d['cause']['sender']})")
    check(any(s["signal"] == "SIGTERM" for s in d["signals"]), "its signals are listed with it")
    rc = cert["cause"]["root_cause"]
    check(rc is not None and rc["pid"] == sleeper and rc["chain"] == [sleeper], f"root cause is the sleep ({rc})")
    check("sleep 300" in rc["summary"] and str(sender.pid) in rc["summary"], f"root-cause summary: {rc['summary']}")
    check(f"pid {sleeper}" in err.decode() and "descendants:" in err.decode(), "stderr shows the tree of deaths")
