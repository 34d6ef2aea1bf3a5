"""`deathwatch install-unit UNIT` / `uninstall-unit UNIT` against a scratch root (--root) and a
fake `systemctl` on PATH (no systemd runs here): the effective ExecStart= is read from
`systemctl show`, its prefixes kept; one drop-in (an empty ExecStart=, the wrapped one, a
certificate under /var/lib/deathwatch/, ExecStopPost= finalize); --dry-run prints it and
writes nothing; a second run changes nothing; Type=forking and several ExecStart= lines are
refused; uninstall-unit leaves nothing behind. The wrapped command line is run for real."""
import shlex

from dwtest import *

wd = workdir()
root = os.path.join(wd, "root")
os.makedirs(root)
bindir = os.path.join(wd, "bin")
os.makedirs(bindir)
state = os.path.join(wd, "units")
os.makedirs(state)
calls = os.path.join(wd, "calls")
# The fake systemctl answers `show UNIT -p ...` from files the test writes, and logs calls.
with open(os.path.join(bindir, "systemctl"), "w") as f:
    f.write(f"""#!/bin/sh
echo "$@" >> {calls}
[ "$1" = show ] || exit 0
unit=$2
[ -f {state}/$unit ] || {{ echo LoadState=not-found; exit 0; }}
cat {state}/$unit
""")
os.chmod(os.path.join(bindir, "systemctl"), 0o755)
env = dict(os.environ, PATH=bindir + ":" + os.environ["PATH"])


def unit(name, text):
    with open(os.path.join(state, name), "w") as f:
        f.write(text)


def dw(*args):
    return subprocess.run([DEATHWATCH, *args], capture_output=True, text=True, env=env, timeout=60)


script = os.path.join(wd, "my service.sh")  # a space in the path: quoted in the drop-in
with open(script, "w") as f:
    f.write("#!/bin/sh\nexit 7\n")
os.chmod(script, 0o755)
unit("app.service", "LoadState=loaded\nType=simple\n"
     f"ExecStartEx={{ path={script} ; argv[]={script} --port 80%x ; flags=ignore-failure ; start_time=[n/a] ; "
     "stop_time=[n/a] ; pid=0 ; code=(null) ; status=0/0 }\n")
drop_in = os.path.join(root, "etc/systemd/system/app.service.d/90-deathwatch.conf")

r = dw("install-unit", "--dry-run", "--root", root, "app")
print(r.stdout)
check(r.returncode == 0 and "ExecStart=\n" in r.stdout and not os.path.exists(drop_in),
      "--dry-run prints the drop-in and writes nothing")
r = dw("install-unit", "--root", root, "app")
check(r.returncode == 0 and os.path.exists(drop_in), f"install-unit writes the drop-in ({r.stderr.strip()})")
text = open(drop_in).read()
lines = text.splitlines()
exec_lines = [l for l in lines if l.startswith("ExecStart=")]
check(exec_lines[0] == "ExecStart=" and len(exec_lines) == 2, "an empty ExecStart= first, then the wrapped one")
wrapped = exec_lines[1][len("ExecStart="):]
check(wrapped.startswith("-\""), f"the '-' prefix is kept ({wrapped[:20]})")
check('"/var/lib/deathwatch/app.service.json"' in wrapped and any(
      l.startswith("ExecStopPost=") and "finalize" in l for l in lines), "certificate path and ExecStopPost= finalize")
check('"80%%x"' in wrapped, "a % is doubled (systemd specifiers)")
check(os.path.isdir(os.path.join(root, "var/lib/deathwatch")), "the certificate directory exists")
# Run the wrapped command line as systemd would (after its own unquoting).
words = shlex.split(wrapped[1:].replace("%%", "%"))
out = os.path.join(wd, "run.json")
words[words.index("-o") + 1] = out
r = subprocess.run(words, capture_output=True, timeout=60)
check(r.returncode == 7 and load(out)["process"]["argv"] == [script, "--port", "80%x"],
      f"the wrapped command line runs the service under deathwatch ({r.returncode})")

before = open(drop_in).read()
r = dw("install-unit", "--root", root, "app")
check(r.returncode == 0 and open(drop_in).read() == before and "nothing changed" in r.stderr, "a second run changes nothing")
# Once systemd has reloaded, `show` reports the wrapped command: still nothing to do.
unit("app.service", "LoadState=loaded\nType=simple\nExecStartEx={ path=" + os.path.realpath(DEATHWATCH) +
     " ; argv[]=" + os.path.realpath(DEATHWATCH) + " -o x -- /bin/true ; flags= ; }\n")
r = dw("install-unit", "--root", root, "app")
check(r.returncode == 0 and open(drop_in).read() == before, "an already wrapped unit is not wrapped twice")

unit("forky.service", "LoadState=loaded\nType=forking\nExecStartEx={ path=/usr/sbin/forky ; argv[]=/usr/sbin/forky ; flags= ; }\n")
r = dw("install-unit", "--root", root, "forky")
check(r.returncode == 125 and "Type=forking" in r.stderr and not os.path.exists(os.path.join(root, "etc/systemd/system/forky.service.d")),
      "Type=forking is refused, nothing written")
unit("two.service", "LoadState=loaded\nType=oneshot\nExecStartEx={ path=/bin/a ; argv[]=/bin/a ; flags= ; }\n"
     "ExecStartEx={ path=/bin/b ; argv[]=/bin/b ; flags= ; }\n")
r = dw("install-unit", "--root", root, "two")
check(r.returncode == 125 and "2 ExecStart=" in r.stderr, "several ExecStart= commands are refused")
r = dw("install-unit", "--root", root, "missing")
check(r.returncode == 125 and "no unit" in r.stderr, "a unit that does not exist is refused")

r = dw("uninstall-unit", "--root", root, "app")
check(r.returncode == 0 and not os.path.exists(os.path.dirname(drop_in)), "uninstall-unit leaves nothing behind")
r = dw("uninstall-unit", "--root", root, "app")
check(r.returncode == 0 and "nothing to remove" in r.stderr, "uninstalling twice is harmless")
check(all(l.split()[0] == "show" for l in open(calls).read().splitlines()),
      "no daemon-reload into a scratch root")
