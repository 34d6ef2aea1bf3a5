"""2000 short children: every one accounted for (2000 normal exits counted, one failing
child listed), and deathwatch's memory stays bounded (its peak RSS is printed)."""
from dwtest import *

N = 2000
out = os.path.join(workdir(), "cert.json")
script = f"i=0; while [ $i -lt {N} ]; do /bin/true; i=$((i+1)); done; /bin/false; exit 0"
proc = start(["sh", "-c", script], output=out, stderr=subprocess.PIPE)
peak = peak_rss_until_exit(proc, interval=0.05)
print(proc.stderr.read().decode())
print(f"deathwatch peak RSS during {N} children: {peak} KiB")
check(proc.returncode == 0, "exit 0")
cert = load(out)
n = cert["descendants_summary"]
check(n["started"] == N + 1, f"{N + 1} children started ({n['started']})")
check(n["exited_normally"] == N, f"{N} normal exits counted, not listed ({n['exited_normally']})")
check(len(cert["descendants"]) == 1 and cert["descendants"][0]["outcome"]["exit_code"] == 1,
      "the one failing child is listed")
RSS_BOUND = (1 << 20) if SANITIZED else 100 * 1024  # ASan: shadow memory and quarantine
check(0 < peak < RSS_BOUND, f"peak RSS bounded ({peak} KiB < {RSS_BOUND} KiB)")
