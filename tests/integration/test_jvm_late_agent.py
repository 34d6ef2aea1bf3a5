"""A JVM that began its shutdown before deathwatch's Java agent could load (System.exit at
once; its own shutdown hook keeps it alive three seconds). The agent, loaded while the hooks
run, can no longer add a hook of its own: it reports the exiting thread at once, and the
certificate still names System.exit's caller."""
from dwtest import *

wd = compiled_java("ExitDuringHooks")
out = os.path.join(wd, "late.json")
dw = start(["java", "-Xmx64m", "-cp", wd, "ExitDuringHooks"], output=out,
           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
stdout, stderr = dw.communicate(timeout=120)
print(stderr.decode())
check(dw.returncode == 5, f"exit status 5 ({dw.returncode})")
cert = load(out)
java = cert["last_words"]["java"]
print("java:", java)
check(java is not None, f"Java last words present (note: {cert['last_words']['note']})")
check(java["thread"] == "main", f"System.exit was called on main ({java['thread']})")
check(java["reason"].startswith("System.exit(5) called from ExitDuringHooks.main(ExitDuringHooks.java:"),
      java["reason"])
print("ok")
