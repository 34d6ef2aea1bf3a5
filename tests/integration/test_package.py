"""The Debian package: CPack builds it from this build tree (dependencies from
dpkg-shlibdeps), it holds what `cmake --install` puts in place (binary, man page, bash and
zsh completions, the journal catalog, examples, copyright, changelog), lintian finds no
error, and installed with dpkg into a scratch root, its deathwatch runs and writes a
certificate. It grants no capability by itself: the man page says how."""
import glob

from dwtest import *

require_root()
for tool in ("cpack", "dpkg-deb", "dpkg"):
    if not have(tool):
        skip(f"{tool} not installed")
build = os.path.dirname(os.path.realpath(DEATHWATCH))
wd = workdir()
r = subprocess.run(["cpack", "-G", "DEB", "-B", wd], cwd=build, capture_output=True, text=True, timeout=600)
print(r.stdout[-2000:], r.stderr[-2000:])
debs = glob.glob(os.path.join(wd, "deathwatch_*_amd64.deb")) + glob.glob(os.path.join(wd, "deathwatch_*.deb"))
check(r.returncode == 0 and debs, "cpack built a .deb")
deb = debs[0]

listing = subprocess.run(["dpkg-deb", "-c", deb], capture_output=True, text=True, check=True).stdout
for path in ("./usr/bin/deathwatch", "./usr/share/man/man1/deathwatch.1.gz",
             "./usr/share/bash-completion/completions/deathwatch", "./usr/share/zsh/vendor-completions/_deathwatch",
             "./usr/lib/systemd/catalog/deathwatch.catalog", "./usr/share/deathwatch/deathwatch-agent.jar",
             "./usr/share/doc/deathwatch/copyright", "./usr/share/doc/deathwatch/changelog.gz",
             "./usr/share/doc/deathwatch/examples/deathwatch-example.service",
             "./usr/share/doc/deathwatch/examples/rsyslog-deathwatch.conf"):
    check(f" {path}\n" in listing + "\n", f"the package holds {path}")
depends = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True, check=True).stdout
# libc6 from dpkg-shlibdeps; libsystemd0 by name, as it is opened at run time (dlopen). libbpf
# and libdw are linked into the binary (DEATHWATCH_STATIC_DEPS): no package is needed for them.
for lib in ("libc6", "libsystemd0"):
    check(lib in depends, f"Depends names {lib}: {depends.strip()}")
linked = subprocess.run(["readelf", "-d", DEATHWATCH], capture_output=True, text=True).stdout
needed = sorted(line.split("[")[1].rstrip("]") for line in linked.splitlines() if "(NEEDED)" in line)
static = all(name.startswith(("libc.so", "libm.so", "ld-linux", "libz.so", "libbz2.so", "liblzma.so")) for name in needed)
for lib, package in (("libbpf.so", "libbpf1"), ("libdw.so", "libdw1")):
    if any(name.startswith(lib) for name in needed):
        check(package in depends, f"Depends names {package} for the shared {lib}: {depends.strip()}")
print(f"{'ok' if static else 'note'}: the binary needs {', '.join(needed)}")
control = os.path.join(wd, "control")
subprocess.run(["dpkg-deb", "-e", deb, control], check=True)
scripts = [n for n in os.listdir(control) if n not in ("control", "md5sums")]
check(not any("setcap" in open(os.path.join(control, n)).read() for n in scripts),
      f"no maintainer script grants capabilities ({scripts})")

if have("lintian"):
    lint = subprocess.run(["lintian", "--tag-display-limit", "0", deb], capture_output=True, text=True, timeout=600)
    errors = [l for l in lint.stdout.splitlines() if l.startswith("E:")]
    print(lint.stdout)
    check(not errors, f"lintian: no error ({errors})")

root = os.path.join(wd, "root")
for d in ("var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"):
    os.makedirs(os.path.join(root, d))
open(os.path.join(root, "var/lib/dpkg/status"), "w").close()
r = subprocess.run(["dpkg", f"--root={root}", "--force-depends", "--force-script-chrootless", "-i", deb],
                   capture_output=True, text=True, timeout=120)
print(r.stdout, r.stderr)
check(r.returncode == 0, "dpkg installs it into a scratch root")
installed = os.path.join(root, "usr/bin/deathwatch")
version = subprocess.run([installed, "--version"], capture_output=True, text=True, timeout=30)
check(version.returncode == 0 and version.stdout.startswith("deathwatch "), f"installed --version: {version.stdout.strip()}")
out = os.path.join(wd, "installed.json")
r = subprocess.run([installed, "-q", "-o", out, "--", "sh", "-c", "kill -TERM $$"], capture_output=True, timeout=60)
cert = load(out)
check(killed_by(r.returncode, signal.SIGTERM) and cert["final"] and cert["outcome"]["signal"] == "SIGTERM",
      "the installed deathwatch writes a certificate")
man = subprocess.run(["sh", "-c", f"gzip -dc {root}/usr/share/man/man1/deathwatch.1.gz"], capture_output=True, text=True)
check("setcap cap_bpf,cap_perfmon+p" in man.stdout and ".SH" in man.stdout,
      "the man page is rendered and says how to grant the capabilities")
check(subprocess.run(["bash", "-n", os.path.join(root, "usr/share/bash-completion/completions/deathwatch")]).returncode == 0,
      "the bash completion parses")
