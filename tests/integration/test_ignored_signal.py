"""Signals the target ignores (issue 8 item 7) are listed, marked "ignored", and never made
the cause: a shell that ignores SIGHUP, sends itself one and exits 1 exited by itself; and
`timeout 1 sleep 10` is not blamed on timeout's own kill(0, SIGTERM), which it ignores."""
from dwtest import *

out = os.path.join(workdir(), "hup.json")
code, err = run(["bash", "-c", 'trap "" HUP; kill -HUP $$; sleep 0.5; exit 1'], output=out)
check(code == 1, f"exit code 1 ({code})")
cert = load(out)
hup = signals_named(cert, "SIGHUP")
check(len(hup) == 1, f"the ignored SIGHUP is listed ({len(hup)} entries)")
check(hup[0]["disposition"] == "ignored", f"marked ignored ({hup[0]['disposition']})")
c = cert["cause"]
check(c["category"] == "exit" and c["confidence"] == "certain", f"exit/certain ({c['category']}/{c['confidence']}: {c['summary']})")
check("SIGHUP" not in c["summary"], f"the ignored SIGHUP is not the cause ({c['summary']})")
check("(ignored)" in err, "the report marks it ignored")

if not have("timeout"):
    skip("timeout (coreutils) not installed")
out = os.path.join(workdir(), "timeout.json")
code, err = run(["timeout", "1", "sleep", "10"], output=out)
check(code == 124, f"timeout's exit code 124 ({code})")
cert = load(out)
own = [s for s in signals_named(cert, "SIGTERM") if s["pid"] == cert["process"]["pid"]]
check(len(own) >= 1 and all(s["disposition"] == "ignored" for s in own),
      f"timeout's own SIGTERM (kill(0, SIGTERM)) is listed, ignored ({[s['disposition'] for s in own]})")
c = cert["cause"]
check(c["category"] == "exit", f"timeout exited by itself ({c['category']}: {c['summary']})")
check("after handling" not in c["summary"], f"no SIGTERM handled by timeout ({c['summary']})")
rc = c["root_cause"]
check(rc is not None and rc["argv"][:1] == ["sleep"] and rc["cause"]["signal"] == "SIGTERM",
      "root cause: its child sleep was killed by SIGTERM")
