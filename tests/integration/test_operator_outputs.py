"""Where operators meet a death: --termination-log (Kubernetes' message, also by default at
/dev/termination-log when deathwatch is PID 1), --on-death (an alerting hook with the death
in its environment, time-bounded, its failure never deathwatch's exit status) and --metrics
(a Prometheus textfile accumulated across runs, by concurrent writers too)."""
import re
import threading

from dwtest import *

wd = workdir()

# A SIGTERM from a process the test knows, for the termination log and the hook.
term_log = os.path.join(wd, "termination-log")
env_dump = os.path.join(wd, "hook.env")
out = os.path.join(wd, "cert.json")
proc = start(["sleep", "30"], output=out, stderr=subprocess.PIPE,
             extra=["--termination-log", term_log, "--on-death", f"env > {env_dump}; exit 3"])
target = target_of(proc.pid, "sleep")
time.sleep(0.3)
sender = subprocess.Popen(["sh", "-c", f"kill -TERM {target}; sleep 1"])
_, err = proc.communicate(timeout=60)
sender.wait()
err = err.decode()
print(err)
check(killed_by(proc.returncode, signal.SIGTERM), f"deathwatch still mirrors SIGTERM ({proc.returncode}), the hook's exit 3 aside")
cert = load(out)
message = open(term_log).read()
check(message == cert["cause"]["summary"] and "SIGTERM" in message and str(sender.pid) in message,
      f"the termination log holds the one-sentence cause ({message!r})")
env = dict(l.split("=", 1) for l in open(env_dump).read().splitlines() if l.startswith("DEATHWATCH_"))
expected = {"DEATHWATCH_CERT": out, "DEATHWATCH_PID": str(target), "DEATHWATCH_COMMAND": "sleep 30",
            "DEATHWATCH_OUTCOME": "killed", "DEATHWATCH_EXIT_CODE": "143", "DEATHWATCH_SIGNAL": "SIGTERM",
            "DEATHWATCH_CATEGORY": "signal", "DEATHWATCH_CONFIDENCE": "certain",
            "DEATHWATCH_SENDER_PID": str(sender.pid), "DEATHWATCH_SENDER_COMM": "sh",
            "DEATHWATCH_SUMMARY": cert["cause"]["summary"]}
for key, value in expected.items():
    check(env.get(key) == value, f"hook environment {key}={env.get(key)!r} (expected {value!r})")
check("--on-death: exited with code 3" in err, "the hook's failure is said on stderr")
check(json.load(open(out))["final"], "the certificate was final before the hook ran")

# A hook that hangs is killed (with its children) at the bound, and deathwatch still exits.
began = time.monotonic()
r = subprocess.run([DEATHWATCH, "--on-death", "sleep 100 & sleep 100", "--", "sh", "-c", "exit 5"],
                   capture_output=True, text=True, timeout=120)
elapsed = time.monotonic() - began
check(r.returncode == 5 and "--on-death: killed after 30 s" in r.stderr and elapsed < 60,
      f"a hanging hook is killed after 30 s, exit 5 kept ({r.returncode}, {elapsed:.0f}s)")

# Metrics: accumulated across runs and across concurrent writers.
metrics = os.path.join(wd, "deathwatch.prom")
for code in (0, 3):
    subprocess.run([DEATHWATCH, "-q", "--metrics", metrics, "--", "sh", "-c", f"exit {code}"], timeout=60)
subprocess.run([DEATHWATCH, "-q", "--metrics", metrics, "--", "sh", "-c", "kill -KILL $$"], timeout=60)
threads = [threading.Thread(target=lambda: subprocess.run(
    [DEATHWATCH, "-q", "--metrics", metrics, "--", "sh", "-c", "exit 3"], timeout=120)) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
text = open(metrics).read()
print(text)
samples = {m.group(1): float(m.group(2)) for m in re.finditer(r"^(deathwatch_\S+) (\S+)$", text, re.M)}
check(samples.get('deathwatch_deaths_total{command="sh",category="exit",signal="none"}') == 8,
      "8 exits counted, 6 of them by concurrent writers (none lost)")
check(samples.get('deathwatch_deaths_total{command="sh",category="signal",signal="SIGKILL"}') == 1,
      "the SIGKILL death counted by category and signal")
check(samples.get('deathwatch_last_exit_code{command="sh"}') == 3, "last exit code")
check(abs(samples.get('deathwatch_last_death_timestamp_seconds{command="sh"}', 0) - time.time()) < 120,
      "last death timestamp is recent Unix time")
for name, kind in (("deathwatch_deaths_total", "counter"), ("deathwatch_last_death_timestamp_seconds", "gauge"),
                   ("deathwatch_last_exit_code", "gauge")):
    check(f"# TYPE {name} {kind}" in text and f"# HELP {name} " in text, f"{name}: HELP and TYPE lines")
check(not [n for n in os.listdir(wd) if ".prom.tmp." in n], "no temporary file left")

# PID 1 in a container with /dev/termination-log: written without being asked.
if not have("unshare"):
    skip("unshare (util-linux) not installed")
k8s_log = os.path.join(wd, "k8s-termination-log")
open(k8s_log, "w").close()
# A mount point for the test's file, made here if /dev has none, and removed afterwards; the
# bind mount itself exists only in the scenario's private mount namespace.
made_mount_point = not os.path.exists("/dev/termination-log")
if made_mount_point:
    open("/dev/termination-log", "w").close()
try:
    script = (f"mount --bind {k8s_log} /dev/termination-log && "
              f"exec {DEATHWATCH} -q -- sh -c 'kill -TERM $$'")
    r = subprocess.run(["unshare", "--pid", "--fork", "--mount", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=60)
finally:
    if made_mount_point:
        os.unlink("/dev/termination-log")
check("SIGTERM" in open(k8s_log).read(),
      f"as PID 1, /dev/termination-log gets the cause by default ({open(k8s_log).read()!r}, {r.stderr.strip()})")
