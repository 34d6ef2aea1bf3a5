"""A process that provokes and handles its own SIGSEGVs (as a JVM does) and exits 0: the
faults are listed as handled, in the certificate and the report, and are not the cause."""
from dwtest import *

out = os.path.join(workdir(), "cert.json")
code, err = run([program("handled_fault")], output=out, stdout=subprocess.DEVNULL)
check(code == 0, f"exit code 0 ({code})")
cert = load(out)
segv = signals_named(cert, "SIGSEGV")
check(sum(s["count"] for s in segv) == 3, f"three faults listed ({[s['count'] for s in segv]})")
check(all(s["disposition"] == "handled" for s in segv), f"marked handled ({[s['disposition'] for s in segv]})")
check(cert["cause"]["category"] == "exit" and cert["cause"]["confidence"] == "certain", "cause: exit, certain")
lines = [l for l in err.splitlines() if "SIGSEGV" in l]
check(len(lines) >= 1 and all("(handled)" in l for l in lines), "the report marks the faults (handled)")
