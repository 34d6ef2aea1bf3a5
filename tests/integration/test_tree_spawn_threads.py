"""posix_spawn (a vfork-style clone) and a multi-threaded child that execs from a
non-leader thread: both children are followed, with their argv after exec and exit codes."""
from dwtest import *

out = os.path.join(workdir(), "cert.json")
rc, err = run([program("spawner"), program("exec_from_thread")], output=out)
check(rc == 0, f"spawner exits 0 ({rc})")
cert = load(out)
by_code = {d["outcome"]["exit_code"]: d for d in cert["descendants"]}
check(3 in by_code and by_code[3]["argv"] == ["/bin/sh", "-c", "exit 3"], f"posix_spawn child: exit 3, argv ({by_code.get(3, {}).get('argv')})")
check(7 in by_code and by_code[7]["argv"][-2:] == ["-c", "exit 7"],
      f"child that exec'd from a thread: exit 7, argv after exec ({by_code.get(7, {}).get('argv')})")
check(cert["descendants_summary"]["started"] == 2, f"two children started ({cert['descendants_summary']})")
check(cert["cause"]["root_cause"] is None, "the top exited 0: no root cause")
