"""A grandchild SIGKILLed by a process the test started (sender named with eBPF, unknown
with ptrace), and a grandchild taken by the OOM killer in a memory cgroup the test makes:
the root cause follows the chain script -> sh -> victim."""
from dwtest import *

out = os.path.join(workdir(), "kill.json")
dw = start(["bash", "-c", 'sh -c "sleep 300; exit \\$?"; exit $?'], output=out, stderr=subprocess.PIPE)
script = target_of(dw.pid, "bash")
middle = wait_until(lambda: next((c for c in children_of(script) if proc_comm(c) == "sh"), None), what="sh")
victim = wait_until(lambda: next((c for c in children_of(middle) if proc_comm(c) == "sleep"), None), what="sleep")
sender = subprocess.Popen(["bash", "-c", f"kill -9 {victim}; sleep 1; true"])
_, err = dw.communicate(timeout=30)
sender.wait()
print(err.decode())
check(dw.returncode == 137, f"exit 137 propagated through sh and bash ({dw.returncode})")
cert = load(out)
rc = cert["cause"]["root_cause"]
check(rc and rc["pid"] == victim and rc["chain"] == [middle, victim], f"chain bash -> sh -> sleep ({rc})")
check("grandchild" in rc["summary"], f"summary says grandchild: {rc['summary']}")
v = [x for x in cert["descendants"] if x["pid"] == victim][0]
check(v["outcome"]["signal"] == "SIGKILL", "grandchild killed by SIGKILL")
if MODE == "kernel":
    check(v["cause"]["sender"]["pid"] == sender.pid, "SIGKILL sender named by the kernel backend")
else:
    check(v["cause"]["sender"] is None and v["cause"]["confidence"] == "unknown", "sender unknown under ptrace")

if os.geteuid() != 0:
    skip("the OOM half needs root to create a memory cgroup")
with MemoryCgroup(64 << 20) as cg:
    out = os.path.join(workdir(), "oom.json")
    hog = program("memory_hog")
    proc = subprocess.run(cg.enter_command([DEATHWATCH, "-o", out, "--", "bash", "-c", f'sh -c "{hog}; exit \\$?"; exit $?']),
                          capture_output=True, timeout=120)
    print(proc.stderr.decode())
    check(proc.returncode == 137, f"script exit 137 ({proc.returncode})")
    cert = load(out)
    rc = cert["cause"]["root_cause"]
    check(rc and rc["argv"] == [hog] and len(rc["chain"]) == 2, f"root cause: the hog, a grandchild ({rc})")
    check(rc["cause"]["category"] == "oom", f"grandchild's cause is oom ({rc['cause']['category']}: {rc['cause']['summary']})")
