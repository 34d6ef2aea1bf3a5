"""Root writing -o FILE in a directory others can write: a link or file planted at
FILE.events, FILE or the temporary name must never redirect the write. deathwatch refuses
(exit 125, one line, before the target starts) or writes only files of its own."""
from dwtest import *

require_root()
NOBODY = 65534
base = workdir()
os.chmod(base, 0o1777)  # like /tmp or a shared log directory
victim_dir = tempfile.mkdtemp(dir=base)
victim = os.path.join(victim_dir, "victim")
PRECIOUS = "precious\n"


def fresh_victim():
    with open(victim, "w") as f:
        f.write(PRECIOUS)


def victim_intact(what):
    with open(victim) as f:
        check(f.read() == PRECIOUS, f"{what}: the victim file is untouched")


def refused(name, plant, words):
    """Plants something with `plant(dir, cert)`, runs deathwatch, expects a refusal."""
    fresh_victim()
    d = tempfile.mkdtemp(dir=base)
    os.chmod(d, 0o1777)
    cert = os.path.join(d, "cert.json")
    plant(d, cert)
    marker = os.path.join(d, "target-ran")
    status, err = run(["sh", "-c", f"touch {marker}; kill -USR1 $$"], output=cert, timeout=30)
    check(status == 125, f"{name}: exit 125 ({status})")
    check(not os.path.exists(marker), f"{name}: the target never started")
    lines = [l for l in err.splitlines() if l.strip()]
    check(len(lines) == 1 and lines[0].startswith("deathwatch:") and words in lines[0],
          f"{name}: one line naming the problem ({lines})")
    victim_intact(name)


def events_symlink(d, cert):
    os.symlink(victim, cert + ".events")
    os.lchown(cert + ".events", NOBODY, NOBODY)


def events_hardlink(d, cert):
    # Same file system, owned by root: only the link count tells it from a file of ours.
    os.link(victim, cert + ".events")


def events_not_ours(d, cert):
    with open(cert + ".events", "w") as f:
        f.write("theirs\n")
    os.chown(cert + ".events", NOBODY, NOBODY)


def events_fifo(d, cert):
    os.mkfifo(cert + ".events")


def cert_symlink_of_other_user(d, cert):
    os.symlink(victim, cert)
    os.lchown(cert, NOBODY, NOBODY)


refused("FILE.events a symlink", events_symlink, "symbolic link")
refused("FILE.events a hard link", events_hardlink, "hard link")
refused("FILE.events another user's", events_not_ours, "owned by uid 65534")
refused("FILE.events a fifo", events_fifo, "events")
refused("FILE another user's symlink", cert_symlink_of_other_user, "symbolic link owned by uid 65534")

# The temporary name was FILE.tmp.<pid>: links planted for the next pids redirected the
# first certificate. Plant them for the pids deathwatch is about to get.
for attempt in range(3):
    fresh_victim()
    d = tempfile.mkdtemp(dir=base)
    os.chmod(d, 0o1777)
    cert = os.path.join(d, "cert.json")
    with open("/proc/sys/kernel/ns_last_pid") as f:
        last = int(f.read())
    planted = [f"{cert}.tmp.{pid}" for pid in range(last + 1, last + 200)]
    for link in planted:
        os.symlink(victim, link)
        os.lchown(link, NOBODY, NOBODY)
    status, err = run(["sh", "-c", "kill -USR1 $$"], output=cert, timeout=30)
    check(killed_by(status, signal.SIGUSR1), f"run {attempt}: deathwatch mirrors SIGUSR1 ({status})")
    victim_intact(f"run {attempt}: links planted at FILE.tmp.<next pids>")
    check(all(os.path.islink(l) for l in planted), f"run {attempt}: the planted links are left alone")
    check(load(cert)["final"], f"run {attempt}: the certificate is written")
    check(os.path.isfile(cert) and not os.path.islink(cert), f"run {attempt}: FILE is a regular file")
    leftovers = [n for n in os.listdir(d) if ".tmp." in n and not os.path.islink(os.path.join(d, n))]
    check(not leftovers, f"run {attempt}: no temporary file left behind ({leftovers})")
