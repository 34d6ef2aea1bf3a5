"""Type=notify under deathwatch: with NOTIFY_SOCKET set (a socket the test binds, as systemd
would: a path and an abstract one), the command's READY=1, STATUS=, WATCHDOG=1,
EXTEND_TIMEOUT_USEC= and an FDSTORE=1 with its descriptor all reach it, sent from
deathwatch's pid (SO_PASSCRED), since systemd's default NotifyAccess=main accepts only the
main pid. Not MAINPID: deathwatch stays the main process (the line is dropped). The relay's
socket is abstract, so anyone could write to it: a message from a process outside the
command's tree is not relayed."""
import array
import socket

from dwtest import *

wd = workdir()
NOTIFIER = r'''
import os, socket, array, sys
addr = os.environ["NOTIFY_SOCKET"]
if addr.startswith("@"):
    addr = "\0" + addr[1:]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
for msg in (b"READY=1", b"STATUS=serving\nWATCHDOG=1", b"EXTEND_TIMEOUT_USEC=5000000"):
    s.sendto(msg, addr)
r, w = os.pipe()
os.write(w, b"stored")
s.sendmsg([b"FDSTORE=1\nFDNAME=pipe"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [r]))], 0, addr)
s.sendto(b"STATUS=main\nMAINPID=1", addr)
s.sendto(b"STOPPING=1", addr)
import time
time.sleep(1.5)  # the test forges a message meanwhile
sys.exit(3)
'''


def receive_all(sock, count):
    got = []
    for _ in range(count):
        fds = array.array("i")
        data, anc, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(16) + socket.CMSG_SPACE(12))
        pid = None
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                fds.frombytes(payload[:len(payload) - len(payload) % fds.itemsize])
            if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                pid = struct.unpack("iII", payload[:12])[0]
        got.append((data.decode(), pid, list(fds)))
    return got


import struct

for name, address in (("path", os.path.join(wd, "notify.sock")), ("abstract", f"@deathwatch-test-{os.getpid()}")):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    sock.bind(address if address.startswith("/") else "\0" + address[1:])
    sock.settimeout(20)
    env = dict(os.environ, NOTIFY_SOCKET=address)
    proc = start([sys.executable, "-c", NOTIFIER], extra=["-q"], env=env, stderr=subprocess.PIPE)
    messages = receive_all(sock, 6)
    # A process outside the tree writes to the relay's (abstract, world-reachable) socket.
    target = target_of(proc.pid)
    relay = dict(l.split("=", 1) for l in open(f"/proc/{target}/environ").read().split("\0") if "=" in l)["NOTIFY_SOCKET"]
    forger = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    forger.sendto(b"STATUS=forged\nMAINPID=1", "\0" + relay[1:])
    forger.close()
    sock.settimeout(3)
    try:
        extra = sock.recv(65536)
    except socket.timeout:
        extra = None
    sock.settimeout(20)
    _, err = proc.communicate(timeout=60)
    print(name, messages, err.decode())
    check(proc.returncode == 3, f"{name}: exit status mirrored ({proc.returncode})")
    texts = [m[0] for m in messages]
    check(texts == ["READY=1", "STATUS=serving\nWATCHDOG=1", "EXTEND_TIMEOUT_USEC=5000000",
                    "FDSTORE=1\nFDNAME=pipe", "STATUS=main\n", "STOPPING=1"],
          f"{name}: every message relayed, in order, MAINPID= dropped ({texts})")
    check(extra is None, f"{name}: a message from outside the command's tree is not relayed ({extra})")
    check(all(m[1] == proc.pid for m in messages), f"{name}: each sent from deathwatch's pid {proc.pid} (main pid)")
    fd_messages = [m for m in messages if m[2]]
    check(len(fd_messages) == 1 and os.read(fd_messages[0][2][0], 100) == b"stored",
          f"{name}: the FDSTORE descriptor arrives, the same pipe")
    check(not any("MAINPID" in t for t in texts), f"{name}: no MAINPID sent")
    sock.close()
