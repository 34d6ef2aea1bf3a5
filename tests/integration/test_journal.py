"""The journal entry, against a socket the test binds at the journal's path (no journald
runs here), parsed in the native protocol: `--journal` sends the final certificate as one
entry with MESSAGE, MESSAGE_ID, PRIORITY (err for an abnormal death, info for a clean exit),
SYSLOG_IDENTIFIER and the DEATHWATCH_* fields, only those whose value is known; a certificate
larger than a datagram arrives as a sealed memfd; $JOURNAL_STREAM naming deathwatch's
stderr turns it on by itself, the variable alone does not."""
import array
import socket
import struct

from dwtest import *

require_root()
SOCKET = "/run/systemd/journal/socket"
MESSAGE_ID = "c963d0e89f064a55a4ac4de84cd1c044"
if os.path.exists(SOCKET):
    try:
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        probe.connect(SOCKET)
        skip("a journald listens at the socket path; this scenario needs it free")
    except OSError:
        os.unlink(SOCKET)  # a stale socket file
os.makedirs(os.path.dirname(SOCKET), exist_ok=True)
journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
journal.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
journal.bind(SOCKET)
os.chmod(SOCKET, 0o666)  # as journald's: any user may log
journal.settimeout(10)


def parse_native(data):
    """KEY=value\\n, or KEY\\n + 64-bit little-endian length + bytes + \\n."""
    fields, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            value = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        fields[key.decode()] = value.decode("utf-8", "replace")
    return fields


def receive():
    fds = array.array("i")
    data, ancillary, _, _ = journal.recvmsg(16 << 20, socket.CMSG_SPACE(4 * fds.itemsize))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(payload[:fds.itemsize])
    if fds:  # the entry in a sealed memfd (its offset is where the writer stopped)
        os.lseek(fds[0], 0, os.SEEK_SET)
        with os.fdopen(fds[0], "rb") as f:
            return parse_native(f.read()), True
    return parse_native(data), False


def nothing_received():
    journal.settimeout(1)
    try:
        journal.recv(1 << 20)
        return False
    except socket.timeout:
        return True
    finally:
        journal.settimeout(10)


try:
    wd = workdir()
    out = os.path.join(wd, "cert.json")
    proc = start(["sleep", "30"], output=out, extra=["--journal"], stderr=subprocess.PIPE)
    target = target_of(proc.pid, "sleep")
    time.sleep(0.3)
    sender = subprocess.Popen(["sh", "-c", f"kill -TERM {target}; sleep 1"])
    proc.communicate(timeout=60)
    sender.wait()
    entry, via_memfd = receive()
    print({k: v[:80] for k, v in entry.items()})
    cert = load(out)
    expected = {"MESSAGE_ID": MESSAGE_ID, "PRIORITY": "3", "SYSLOG_IDENTIFIER": "deathwatch",
                "DEATHWATCH_PID": str(target), "DEATHWATCH_COMMAND": "sleep 30", "DEATHWATCH_OUTCOME": "killed",
                "DEATHWATCH_EXIT_CODE": "143", "DEATHWATCH_SIGNAL": "SIGTERM", "DEATHWATCH_CATEGORY": "signal",
                "DEATHWATCH_CONFIDENCE": "certain", "DEATHWATCH_SENDER_PID": str(sender.pid),
                "DEATHWATCH_SENDER_COMM": "sh", "DEATHWATCH_SENDER_UID": "0", "DEATHWATCH_CERTIFICATE": out}
    for key, value in expected.items():
        check(entry.get(key) == value, f"{key}={entry.get(key)!r} (expected {value!r})")
    check(cert["cause"]["summary"] in entry["MESSAGE"], f"MESSAGE holds the cause ({entry['MESSAGE']!r})")
    check(json.loads(entry["DEATHWATCH_JSON"])["cause"] == cert["cause"], "DEATHWATCH_JSON is the whole certificate")
    check("DEATHWATCH_SENDER_UNIT" not in entry, "an unknown field is left out (no unit here)")

    # A clean exit: info. An entry larger than a datagram may be (libsystemd raises its send
    # buffer to 8 MiB) must arrive whole as a sealed memfd: 40 arguments of 128 KB (5 MB,
    # in MESSAGE, DEATHWATCH_COMMAND and DEATHWATCH_JSON: 15 MB), which exec allows with a
    # 64 MiB stack limit.
    import resource
    big = ["z" * 131000] * 40
    subprocess.run([DEATHWATCH, "-q", "--journal", "--", "sh", "-c", "exit 0", "sh", *big], timeout=300,
                   preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_STACK, (64 << 20, 64 << 20)))
    entry, via_memfd = receive()
    check(entry.get("PRIORITY") == "6" and entry.get("DEATHWATCH_EXIT_CODE") == "0", "a clean exit is info")
    argv = json.loads(entry["DEATHWATCH_JSON"])["process"]["argv"]
    check(via_memfd and argv[4:] == big and entry["DEATHWATCH_COMMAND"].endswith(big[-1]),
          f"a {sum(len(v) for v in entry.values()) >> 20} MiB entry arrives as a memfd, whole")
    check("DEATHWATCH_SIGNAL" not in entry and "DEATHWATCH_SENDER_PID" not in entry, "no signal, no sender fields")

    # $JOURNAL_STREAM naming deathwatch's stderr: on without --journal. Merely set: off.
    r, w = os.pipe()
    st = os.fstat(w)
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    subprocess.run([DEATHWATCH, "-q", "--", "sh", "-c", "exit 7"], env=env, stderr=w, timeout=60)
    os.close(w)
    os.close(r)
    entry, _ = receive()
    check(entry.get("DEATHWATCH_EXIT_CODE") == "7", "stderr is the journal stream: an entry without --journal")
    env = dict(os.environ, JOURNAL_STREAM="8:12345")
    subprocess.run([DEATHWATCH, "-q", "--", "sh", "-c", "exit 8"], env=env, stderr=subprocess.DEVNULL, timeout=60)
    check(nothing_received(), "JOURNAL_STREAM set but naming another stream: no entry")
finally:
    journal.close()
    os.unlink(SOCKET)
