"""-o naming something that is not a regular file: a character device (/dev/null), a link
to a stream (/dev/stdout), a fifo. deathwatch must write the final certificate into it, never
rename a file over it, and create nothing beside it (no FILE.events next to a device).
The devices here are the test's own nodes, so a regression cannot break this machine's
/dev/null."""
import stat

from dwtest import *

require_root()
d = workdir()


def nothing_beside(path, what):
    others = [n for n in os.listdir(os.path.dirname(path))
              if n.startswith(os.path.basename(path) + ".")]
    check(not others, f"{what}: nothing created beside it ({others})")


# A character device: a twin of /dev/null.
null = os.path.join(d, "null")
os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
status, err = run(["sh", "-c", "kill -USR1 $$"], output=null, timeout=30)
check(killed_by(status, signal.SIGUSR1), f"/dev/null twin: deathwatch mirrors SIGUSR1 ({status})")
check(stat.S_ISCHR(os.lstat(null).st_mode), "/dev/null twin: still a character device")
nothing_beside(null, "/dev/null twin")

# A link to a stream, like /dev/stdout: the certificate follows the target's own output.
stdout_link = os.path.join(d, "stdout")
os.symlink("/proc/self/fd/1", stdout_link)
proc = start(["sh", "-c", "echo from-target"], output=stdout_link,
             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out, err = proc.communicate(timeout=60)
print(err.decode(errors="replace"), end="")
check(proc.returncode == 0, f"stdout link: exit 0 ({proc.returncode})")
text = out.decode()
check(text.startswith("from-target\n"), f"stdout link: the target's output first ({text[:40]!r})")
cert = json.loads(text[len("from-target\n"):])
check(cert["final"] and cert["outcome"]["kind"] == "exited", "stdout link: one final certificate after it")
check(os.path.islink(stdout_link), "stdout link: still a link")
nothing_beside(stdout_link, "stdout link")

# A fifo with a reader: the reader gets exactly one certificate, the final one (smaller
# than the pipe's buffer, read once deathwatch is done).
fifo = os.path.join(d, "fifo")
os.mkfifo(fifo)
reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
status, err = run(["sh", "-c", "exit 3"], output=fifo, timeout=30)
received = b""
while True:
    try:
        chunk = os.read(reader, 65536)
    except BlockingIOError:
        break
    if not chunk:
        break
    received += chunk
os.close(reader)
check(status == 3, f"fifo: deathwatch mirrors exit 3 ({status})")
check(received.count(b'"schema"') == 1 and json.loads(received)["final"],
      "fifo: the reader got one certificate, the final one")
check(stat.S_ISFIFO(os.lstat(fifo).st_mode), "fifo: still a fifo")
nothing_beside(fifo, "fifo")

# A device that refuses the write (a twin of /dev/full): one line says so, and deathwatch
# still exits as the command did.
full = os.path.join(d, "full")
os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
status, err = run(["sh", "-c", "exit 4"], output=full, extra=["-q"], timeout=30)
check(status == 4, f"/dev/full twin: deathwatch mirrors exit 4 ({status})")
said = [l for l in err.splitlines() if "final certificate was not written" in l]
check(len(said) == 1, f"/dev/full twin: one line says the certificate was not written ({said})")
check(stat.S_ISCHR(os.lstat(full).st_mode), "/dev/full twin: still a character device")
nothing_beside(full, "/dev/full twin")
