"""A sender thread that renamed itself (prctl PR_SET_NAME) sends SIGTERM (issue 8 item 12):
the certificate names the sending process by its own name and exe, with no claim that it
"has since exec'd"; a process forked by such a thread has its parent named by the parent
process's name in its ancestry, not the thread's."""
from dwtest import *


def watch_kill(extra):
    out = os.path.join(workdir(), "cert.json")
    dw = start([program("caught_term")], output=out, stdout=subprocess.PIPE)
    check(dw.stdout.readline().strip() == b"ready", "target installed its handler")
    target = target_of(dw.pid, "caught_term")
    sender = subprocess.Popen([program("thread_sender"), str(target)] + extra, stdout=subprocess.PIPE)
    line = sender.stdout.readline().split()
    check(line[:1] == [b"sent"], "SIGTERM sent")
    dw.wait(timeout=30)
    sender.wait(timeout=30)
    check(dw.returncode == 143, f"the target exited 143 ({dw.returncode})")
    return sender.pid, int(line[1]), load(out)["cause"]["sender"]


program_pid, sending_pid, s = watch_kill([])
check(sending_pid == program_pid and s is not None and s["pid"] == program_pid, f"the sender pid is {program_pid}")
check(s["comm"] == "thread_sender", f"the sender is named by its process, not its thread ({s['comm']})")
check(s["exe"] is not None and s["exe"].endswith("/thread_sender"), f"its exe is known ({s['exe']})")
check("exec'd" not in (s["note"] or ""), f"no false claim of an exec ({s['note']})")

program_pid, sending_pid, s = watch_kill(["fork"])
check(s is not None and s["pid"] == sending_pid, f"the sender is the forked child {sending_pid}")
parent = s["ancestry"][0] if s["ancestry"] else {}
check(parent.get("pid") == program_pid and parent.get("comm") == "thread_sender",
      f"its parent is named by its process, not the forking thread ({parent})")
