"""Java last words: the seed's SelfKill (System.exit(4) two seconds after start) under
deathwatch names SelfKill.main as the caller, and the JVM's own stdout and stderr are the
same as a bare run's; a JVM stopped by SIGTERM names its "SIGTERM handler" thread. The
agent's SIGQUIT (HotSpot's attach request) is deathwatch's own probe: not recorded."""
from dwtest import *

wd = compiled_java("SelfKill")
command = ["java", "-Xmx64m", "-cp", wd, "SelfKill"]

bare = subprocess.run(command + ["exit"], capture_output=True, timeout=120)
out = os.path.join(wd, "exit.json")
dw = start(command + ["exit"], output=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
stdout, stderr = dw.communicate(timeout=120)
print(stderr.decode())
check(dw.returncode == 4 == bare.returncode, f"exit status 4 as bare ({dw.returncode}, bare {bare.returncode})")
check(stdout == bare.stdout, f"the JVM's stdout is the same as a bare run's ({stdout[:300]!r}, bare {bare.stdout[:100]!r})")
# deathwatch's report is its own block: "deathwatch: ..." then indented lines.
report_start = stderr.find(b"deathwatch: ")
jvm_stderr = stderr[:report_start] if report_start >= 0 else stderr
check(jvm_stderr == bare.stderr, f"the JVM's stderr is the same as a bare run's ({jvm_stderr[:200]!r})")
cert = load(out)
java = cert["last_words"]["java"]
print("java:", java)
check(java is not None, f"Java last words present (note: {cert['last_words']['note']})")
check(java["thread"] == "main", f"System.exit was called on main ({java['thread']})")
check(any(f.startswith("SelfKill.main(SelfKill.java:") for f in java["stack"]), "SelfKill.main on the stack")
check(java["reason"].startswith("System.exit(4) called from SelfKill.main(SelfKill.java:"), java["reason"])
check(cert["cause"]["summary"] == java["reason"], f"the cause says it ({cert['cause']['summary']})")
check(b"System.exit(4) called from SelfKill.main" in stderr, "the report names the Java caller")
check(not signals_named(cert, "SIGQUIT"), "the attach's SIGQUIT is not recorded as an event")

out = os.path.join(wd, "term.json")
dw = start(command + ["wait"], output=out, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
target = target_of(dw.pid, "java")
# Let the agent load (HotSpot is attachable some 200-300 ms after start).
time.sleep(3)
sender = subprocess.Popen(["bash", "-c", f"kill -TERM {target}; sleep 1; true"])
stdout, stderr = dw.communicate(timeout=120)
sender.wait()
print(stderr.decode())
check(dw.returncode == 143, f"SIGTERM: the JVM exits 143 ({dw.returncode})")
cert = load(out)
java = cert["last_words"]["java"]
print("java:", java)
check(java is not None and java["thread"] == "SIGTERM handler", f"the SIGTERM handler thread ({java})")
check(cert["cause"]["sender"]["pid"] == sender.pid, "the sender is still the bash")
print("ok")
