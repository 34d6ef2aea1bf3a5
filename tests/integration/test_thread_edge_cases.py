"""Threads that make tracers stumble: a leader that calls pthread_exit long before the
process ends (the outcome comes from its final status), and exec from a non-leader thread
(the old thread id vanishes; the process goes on as the new program under the same pid)."""
from dwtest import *

out = os.path.join(workdir(), "leader.json")
rc, _ = run([program("leader_exits_first")], output=out)
check(rc == 3, f"exit code 3 from the surviving thread ({rc})")
cert = load(out)
check(cert["outcome"]["kind"] == "exited" and cert["outcome"]["exit_code"] == 3, "outcome exited 3")
check(cert["cause"]["category"] == "exit", "cause exit")

out = os.path.join(workdir(), "exec.json")
rc, _ = run([program("exec_from_thread")], output=out)
check(rc == 7, f"exit code 7 from the program exec'd by a thread ({rc})")
cert = load(out)
check(cert["outcome"]["exit_code"] == 7, "outcome exited 7")
check(os.path.basename(cert["process"]["exe"]) in ("sh", "dash", "bash"), f"exe is the new program ({cert['process']['exe']})")
