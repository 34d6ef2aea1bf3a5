"""Escape sequences from outside never reach the terminal (issue 8 item 17): a sender whose
comm is "\\e[2J\\e]0;X\\a" kills a child, and the root-cause evidence line and the descendants
tree show it escaped; a command whose name holds an escape sequence fails to start, and the
one-line error shows it escaped too, as does the one for a file that cannot be executed."""
from dwtest import *

if not os.path.exists("/usr/bin/kill"):
    skip("/usr/bin/kill (procps) not installed")
wd = workdir()
evil = os.path.join(wd, "\x1b[2J\x1b]0;X\x07")
os.symlink("/usr/bin/kill", evil)  # its comm is the link's name
out = os.path.join(wd, "cert.json")
script = 'sleep 30 & p=$!; "$0" -TERM $p; wait $p'
code, err = run(["bash", "-c", script, evil], output=out)
check(code == 143, f"bash exited 143 after its child's death by SIGTERM ({code})")
cert = load(out)
rc = cert["cause"]["root_cause"]
check(rc is not None and rc["cause"]["sender"]["comm"] == "\x1b[2J\x1b]0;X\x07",
      "the root cause names the sender by its raw comm in JSON")
check("\x1b" not in err and "\x07" not in err, "no raw ESC or BEL byte on stderr")
check("root cause" in err and "\\x1b[2J\\x1b]0;X\\x07" in err, "the comm is shown escaped in the report")

code, err = run([os.path.join(wd, "no\x1b]0;T\x07")])
check(code == 127, f"a missing command gives 127 ({code})")
check("\x1b" not in err and "\x07" not in err, "no raw ESC or BEL byte in the not-found line")
check("\\x1b]0;T\\x07" in err, "the name is shown escaped")

noexec = os.path.join(wd, "noexec\x1b]0;T\x07")
with open(noexec, "w") as f:
    f.write("#!/bin/sh\n")
os.chmod(noexec, 0o644)
code, err = run([noexec])
check(code == 126, f"a file without execute permission gives 126 ({code})")
check("\x1b" not in err and "\x07" not in err, "no raw ESC or BEL byte in the cannot-execute line")
check("\\x1b]0;T\\x07" in err, "the name is shown escaped")
