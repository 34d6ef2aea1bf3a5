"""Command-line arguments and a working directory that are not UTF-8 (Linux strings are
bytes): the certificate keeps them exactly, as documented in the README (\\xHH for a byte
outside UTF-8, \\x5c for a backslash that would read as one), and stays valid JSON. They
used to become U+FFFD, and the command line could not be reproduced."""
import re

from dwtest import *

ARGS = [b"caf\xc3\xa9", b"\xff\xfe", b"a\\xff", b"tail\xc3", b"\\\xff", b"plain \\x41"]


def unescape(text):
    """The README's rule: \\x and two hex digits 80..ff or 5c is that byte."""
    def byte(m):
        value = int(m.group(1), 16)
        return bytes([value]) if value >= 0x80 or value == 0x5C else m.group(0)
    return re.sub(rb"\\x([0-9a-fA-F]{2})", byte, text.encode("utf-8"))


d = workdir()
cwd = os.path.join(os.fsencode(d), b"dir\xe9\\x80")
os.mkdir(cwd)
out = os.path.join(d, "cert.json")
command = [b"/bin/sh", b"-c", b"exit 0"] + ARGS
proc = subprocess.Popen([os.fsencode(DEATHWATCH), b"-q", b"-o", os.fsencode(out), b"--"] + command,
                        cwd=cwd, stderr=subprocess.PIPE)
_, err = proc.communicate(timeout=60)
print(err.decode(errors="replace"), end="")
check(proc.returncode == 0, f"exit 0 ({proc.returncode})")
with open(out, "rb") as f:
    raw = f.read()
raw.decode("utf-8")  # raises if the file is not UTF-8
cert = load(out)
argv = [unescape(a) for a in cert["process"]["argv"]]
check(argv == command, f"argv read back byte for byte: {argv}")
check(unescape(cert["process"]["cwd"]) == cwd, f"cwd read back byte for byte: {unescape(cert['process']['cwd'])!r}")
check(cert["process"]["argv"][3] == "caf\u00e9", "valid UTF-8 is written as is")
check("\ufffd" not in json.dumps(cert, ensure_ascii=False), "no replacement character anywhere")
