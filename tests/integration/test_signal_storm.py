"""20,000 self-sent SIGUSR1: every one counted exactly, the event log bounded, the JSON
file valid whenever it is read while the storm runs, and far fewer rewrites than signals."""
from dwtest import *

N = 20000
out = os.path.join(workdir(), "cert.json")
dw = start([program("signal_storm"), str(N)], output=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
reads = 0
while dw.poll() is None:
    if os.path.exists(out):
        load(out)  # raises on a torn or partial file
        reads += 1
    time.sleep(0.005)
report = dw.stderr.read().decode()
check(dw.returncode == 0, f"target handled all {N} signals ({dw.returncode})")
check(reads > 0, f"certificate read {reads} times during the run, always valid JSON")
cert = load(out)
usr1 = signals_named(cert, "SIGUSR1")
check(len(usr1) == 1 and usr1[0]["count"] == N, f"one collapsed entry with count {N}")
with open(out + ".events") as f:
    events = [json.loads(line) for line in f]
# Self-sent repeats are bounded in the log (the first ten, then the 16th, 32nd, ...), and
# counted in the certificate: 20,000 lines were 3 MB.
logged = [e for e in events if e["signal"] == "SIGUSR1"]
check(10 <= len(logged) <= 10 + N.bit_length(), f"{len(logged)} lines in the event log for {N} repeats")
check(logged[-1].get("repeat", 1) > N // 2, f"the last line numbers its repeat ({logged[-1].get('repeat')})")
check(not any("lost" in w for w in cert["watcher"]["warnings"]), f"no event lost: {cert['watcher']['warnings']}")
