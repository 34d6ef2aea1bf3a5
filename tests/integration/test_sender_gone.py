"""A descendant is SIGTERMed by `kill`, a sibling that exits at once, while it blocks SIGTERM:
the signal is delivered (and, with ptrace, first seen) half a second later, long after its
sender ended and left /proc. The certificate still names the sender: its pid, and its name
"kill" (eBPF: captured when it sent; ptrace: read at the sender's exit stop)."""
from dwtest import *

kill = shutil.which("kill", path="/usr/bin:/bin")
if kill is None or os.path.basename(os.path.realpath(kill)) != "kill":
    skip("no kill(1) program (procps) to send from a separate process")
wd = workdir()
ready = os.path.join(wd, "ready")
pidfile = os.path.join(wd, "kill.pid")
out = os.path.join(wd, "cert.json")
# The sender is a separate process (not the shell's builtin), started only once the receiver
# blocks SIGTERM; the shell records its pid before it runs (exec after writing $$).
script = (f'"$0" 600 > {ready} & p=$!; '
          f'until grep -q ready {ready} 2>/dev/null; do sleep 0.01; done; '
          f'sh -c \'echo $$ > {pidfile}; exec {kill} -TERM "$0"\' $p; wait $p')
code, err = run(["sh", "-c", script, program("blocks_term")], output=out)
print(err)
check(code == 143, f"the shell mirrors its child's death by SIGTERM (143, got {code})")
with open(pidfile) as f:
    sender_pid = int(f.read())
cert = load(out)
terms = [s for s in signals_named(cert, "SIGTERM") if s["sender"] and s["sender"].get("pid") == sender_pid]
check(len(terms) == 1, f"the SIGTERM is listed with its sender's pid {sender_pid}")
check(terms[0]["sender"].get("comm") == "kill", f"the sender is named kill ({terms[0]['sender']})")
rc = cert["cause"]["root_cause"]
check(rc is not None and rc["cause"]["sender"]["pid"] == sender_pid and rc["cause"]["sender"]["comm"] == "kill",
      f"the root cause names kill ({rc and rc['cause']['sender']})")
check(f"kill (pid {sender_pid}" in err, "the report names kill")
print("ok")
