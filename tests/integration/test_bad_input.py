"""Bad input: not found 127, not executable 126, unwritable -o refused before the target
starts (125), no command 125: each with one clear line, never a crash."""
from dwtest import *

wd = workdir()
rc, err = run(["no-such-command-deathwatch"])
check(rc == 127, f"command not found: 127 ({rc})")
check(len(err.strip().splitlines()) == 1 and "not found" in err, f"one clear line: {err!r}")

rc, err = run([os.path.join(wd, "missing")])
check(rc == 127, f"missing path: 127 ({rc})")

plain = os.path.join(wd, "plain.txt")
with open(plain, "w") as f:
    f.write("not a program\n")
os.chmod(plain, 0o644)
rc, err = run([plain])
check(rc == 126, f"not executable: 126 ({rc})")
check(len(err.strip().splitlines()) == 1, f"one line: {err!r}")

rc, err = run([wd])
check(rc == 126, f"a directory: 126 ({rc})")

marker = os.path.join(wd, "ran")
rc, err = run(["touch", marker], output="/nonexistent-dir/cert.json")
check(rc == 125, f"unwritable -o: 125 ({rc})")
check(not os.path.exists(marker), "the target was not started")
check("cannot write" in err, f"says why: {err!r}")

proc = subprocess.run([DEATHWATCH], capture_output=True)
check(proc.returncode == 125, "no command: 125")
proc = subprocess.run([DEATHWATCH, "--bogus", "--", "true"], capture_output=True)
check(proc.returncode == 125 and b"bogus" in proc.stderr, "unknown option: 125")
proc = subprocess.run([DEATHWATCH, "--version"], capture_output=True)
check(proc.returncode == 0 and proc.stdout.startswith(b"deathwatch "), "--version")
proc = subprocess.run([DEATHWATCH, "--help"], capture_output=True)
check(proc.returncode == 0 and b"Examples" in proc.stdout, "--help with examples")

# Not found still leaves a final certificate (it once said "running", pid 0), like EACCES.
for missing in ("/nonexistent/cmd", "no-such-command-deathwatch", plain):
    out = os.path.join(wd, "nf.json")
    rc, err = run([missing], output=out)
    cert = load(out)
    expected = 126 if missing == plain else 127
    check(rc == expected and cert["final"], f"{missing}: exit {rc}, final certificate")
    check(cert["outcome"]["exit_code"] == expected, f"outcome exit code {expected}")
    check(cert["process"]["pid"] is None or missing == plain, f"no pid invented ({cert['process']['pid']})")
    check("execute" in cert["cause"]["summary"], f"cause says so ({cert['cause']['summary']})")

# A script without a shebang runs under /bin/sh, as with env, timeout and shells (execvp).
script = os.path.join(wd, "noshebang")
with open(script, "w") as f:
    f.write('echo "ran $1"\nexit 7\n')
os.chmod(script, 0o755)
proc = subprocess.run([DEATHWATCH, "-q", "--", script, "arg"], capture_output=True, timeout=60)
check(proc.returncode == 7 and proc.stdout == b"ran arg\n",
      f"script without a shebang runs under /bin/sh ({proc.returncode}, {proc.stdout!r})")
bare = subprocess.run(["env", script, "arg"], capture_output=True)
check(bare.returncode == proc.returncode and bare.stdout == proc.stdout, "the same as under env")
