"""deathwatch under a real systemd 252 (systemd-nspawn --boot on a debootstrapped Debian 12),
installed from its own .deb:

- `install-unit` wraps an existing service (twice changes nothing); a SIGTERM sent by a named
  process is on the certificate, and `journalctl DEATHWATCH_CATEGORY=signal -o json` returns
  the entry deathwatch sent to the real journald; `uninstall-unit` restores the unit;
- `systemctl stop` with a stop timeout: systemd SIGKILLs the whole cgroup, deathwatch too,
  and the drop-in's `ExecStopPost=deathwatch finalize` completes the certificate;
- a `Type=notify` service whose readiness comes from a child of the command reaches `active`
  (the relay speaks from deathwatch's pid, the one NotifyAccess=main accepts);
- the rsyslog configuration in demo/fleet ships the journal entry as one JSON line to a
  collector (a TCP listener the test binds), as a fleet's log shipping would;
- `Restart=on-failure` behaves as without deathwatch: ExecMainCode, ExecMainStatus, NRestarts
  and Result equal for an exit status and for a death by signal.

Inside the container's pid namespace the eBPF backend refuses by design, so both modes watch
with ptrace; the kernel mode checks that the refusal is recorded with its reason."""
import glob
import json
import shutil
import socket
import threading

from dwtest import *
from systemd_container import SystemdContainer, cached_root, require_tools

require_root()
require_tools()
build = os.path.dirname(os.path.realpath(DEATHWATCH))
wd = workdir()
r = subprocess.run(["cpack", "-G", "DEB", "-B", wd], cwd=build, capture_output=True, text=True, timeout=600)
debs = glob.glob(os.path.join(wd, "deathwatch_*.deb"))
check(r.returncode == 0 and debs, f"cpack built a .deb {r.stderr[-1500:]}")
root = cached_root(build)
for old in glob.glob(os.path.join(root, "etc/systemd/system/dw-*")):
    shutil.rmtree(old) if os.path.isdir(old) else os.unlink(old)
shutil.rmtree(os.path.join(root, "var/lib/deathwatch"), ignore_errors=True)
shutil.copy(debs[0], os.path.join(root, "root/deathwatch.deb"))


def certificate(box, path):
    cert = json.loads(box.read(path))
    backends = {b["name"]: b for b in cert["watcher"]["backends"]}
    check(backends["ptrace"]["active"], f"{path}: watched with ptrace")
    if MODE == "kernel":
        check(not backends["ebpf"]["active"] and backends["ebpf"]["detail"],
              f"{path}: eBPF refused inside the container, with a reason ({backends['ebpf']['detail']})")
    return cert


class Collector:
    """A TCP listener on loopback (the container shares the host's network): what rsyslog ships."""

    def __init__(self):
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(4)
        self.port = self.server.getsockname()[1]
        self.lines = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            conn, _ = self.server.accept()
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn):
        for line in conn.makefile("r", errors="replace"):
            self.lines.append(line)


def children(box, pid):
    # The container's /proc, not the host's: pids are those of its namespace.
    return [int(p) for p in box.run(["cat", f"/proc/{pid}/task/{pid}/children"]).stdout.split()]


with SystemdContainer(root, f"dwtest-{MODE}") as box:
    # As an operator would: apt resolves the package's Depends (shlibdeps) from the mirror.
    if box.run(["dpkg", "-i", "/root/deathwatch.deb"], check=False).returncode != 0:
        box.shell("apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -f -y -qq", timeout=600)
    version = box.run(["deathwatch", "--version"]).stdout
    check(version.startswith("deathwatch "), f"the package installed in the container: {version.strip()}")
    if MODE == "ptrace":
        box.run(["systemctl", "set-environment", "DEATHWATCH_NO_BPF=1"])

    # The fleet's log shipping: demo/fleet's rsyslog configuration, aimed at our collector.
    collector = Collector()
    shipping = open(os.path.join(os.path.dirname(__file__), "..", "..", "demo", "fleet", "rsyslog-deathwatch.conf")).read()
    box.write("/etc/rsyslog.d/60-deathwatch.conf",
              shipping.replace('target="collector.example.net" port="5140"', f'target="127.0.0.1" port="{collector.port}"'))
    box.run(["rm", "-f", "/var/lib/rsyslog/deathwatch-imjournal.state"])
    box.run(["systemctl", "restart", "rsyslog.service"])
    check(box.show("rsyslog.service", "ActiveState")["ActiveState"] == "active", "rsyslog runs with demo/fleet's configuration")

    # install-unit on an existing service; a named sender's SIGTERM; the journal entry.
    box.write("/etc/systemd/system/dw-victim.service",
              "[Service]\nExecStart=/usr/bin/sleep infinity\n"
              # systemd's own words on the death; the unit is unloaded once inactive.
              "ExecStopPost=/bin/sh -c 'echo $SERVICE_RESULT $EXIT_CODE $EXIT_STATUS > /run/dw-victim.result'\n")
    # It lingers: ptrace reads a sender's /proc once the signal arrives (eBPF would not need it).
    box.write("/usr/local/bin/stopper", "#!/bin/sh\nkill -TERM \"$1\"\nsleep 1\n")
    os.chmod(os.path.join(root, "usr/local/bin/stopper"), 0o755)
    box.run(["systemctl", "daemon-reload"])
    box.run(["deathwatch", "install-unit", "dw-victim.service"])
    drop_in = "/etc/systemd/system/dw-victim.service.d/90-deathwatch.conf"
    first = box.read(drop_in)
    again = box.run(["deathwatch", "install-unit", "dw-victim.service"])
    check(box.read(drop_in) == first and "nothing changed" in again.stderr, "install-unit twice changes nothing")
    exec_start = box.show("dw-victim.service", "ExecStart")["ExecStart"]
    check("/usr/bin/deathwatch" in exec_start and "/usr/bin/sleep" in exec_start,
          f"systemd's effective ExecStart= runs the service under deathwatch ({exec_start})")
    box.run(["systemctl", "start", "dw-victim.service"])
    main_pid = int(box.show("dw-victim.service", "MainPID")["MainPID"])
    check(box.run(["cat", f"/proc/{main_pid}/comm"]).stdout.strip() == "deathwatch", "the unit's main process is deathwatch")
    sleeper = wait_until(lambda: children(box, main_pid), what="the service's sleep")[0]
    wait_until(lambda: os.path.exists(os.path.join(root, "var/lib/deathwatch/dw-victim.service.json")),
               what="the running certificate")
    box.run(["/usr/local/bin/stopper", str(sleeper)])
    box.wait_for("dw-victim.service", "ActiveState", ("inactive", "failed"))
    said = box.run(["cat", "/run/dw-victim.result"]).stdout.strip()
    check(said == "success killed TERM",
          f"ExecStopPost= saw $SERVICE_RESULT $EXIT_CODE $EXIT_STATUS as without deathwatch ({said})")
    cert = certificate(box, "/var/lib/deathwatch/dw-victim.service.json")
    sender = cert["cause"]["sender"] or {}
    check(cert["final"] and cert["outcome"]["signal"] == "SIGTERM" and sender.get("comm") == "stopper",
          f"certificate: SIGTERM from stopper ({cert['cause']['summary']})")

    def journal_entries():
        box.run(["journalctl", "--sync"], check=False)
        out = box.run(["journalctl", "-b", "DEATHWATCH_CATEGORY=signal", "-o", "json", "--no-pager"], check=False).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]
    entries = wait_until(journal_entries, what="the journal entry")
    entry = entries[-1]
    print(json.dumps({k: v for k, v in entry.items() if k != "DEATHWATCH_JSON"}, indent=1))
    check(entry.get("MESSAGE_ID") == "c963d0e89f064a55a4ac4de84cd1c044" and entry.get("PRIORITY") == "3"
          and entry.get("SYSLOG_IDENTIFIER") == "deathwatch", "journalctl returns deathwatch's entry (id, priority)")
    check(entry.get("DEATHWATCH_SIGNAL") == "SIGTERM" and entry.get("DEATHWATCH_SENDER_COMM") == "stopper"
          and entry.get("_SYSTEMD_UNIT") == "dw-victim.service"
          and entry.get("DEATHWATCH_CERTIFICATE") == "/var/lib/deathwatch/dw-victim.service.json",
          "its fields: signal, sender, the unit journald attributes it to, the certificate path")
    check(json.loads(entry["DEATHWATCH_JSON"])["outcome"]["signal"] == "SIGTERM", "DEATHWATCH_JSON is the certificate")
    catalog = box.run(["journalctl", "-b", "-x", "MESSAGE_ID=c963d0e89f064a55a4ac4de84cd1c044", "--no-pager"]).stdout
    print(catalog[-1500:])
    check("(pid " in catalog and "run under deathwatch, has ended:\n░░ killed. Cause category: signal (confidence: certain)"
          in catalog and "@" not in catalog.split("░░", 1)[1],
          "the installed catalog entry explains it, fields filled in (journalctl -x)")

    line = wait_until(lambda: [l for l in collector.lines if "stopper" in l], timeout=30,
                      what="the entry shipped by rsyslog")[-1]
    try:
        shipped = json.loads(line)
    except ValueError:
        fail(f"rsyslog shipped a line that is not JSON: {line!r}")
    print("shipped:", json.dumps({k: v for k, v in shipped.items() if k != "certificate"}))
    check(shipped["category"] == "signal" and shipped["sender_comm"] == "stopper" and shipped["unit"] == "dw-victim.service"
          and json.loads(shipped["certificate"])["outcome"]["signal"] == "SIGTERM",
          "rsyslog shipped one JSON line: the fields and the whole certificate")

    box.run(["deathwatch", "uninstall-unit", "dw-victim.service"])
    check(not os.path.exists(os.path.join(root, "etc/systemd/system/dw-victim.service.d")),
          "uninstall-unit leaves nothing behind")
    exec_start = box.show("dw-victim.service", "ExecStart")["ExecStart"]
    check("/usr/bin/deathwatch" not in exec_start, f"and systemd runs the service bare again ({exec_start})")

    # A service that runs as its own user: deathwatch runs as that user too, so the drop-in
    # gives it a state directory of its own (DynamicUser= makes it /var/lib/private/...).
    box.write("/etc/systemd/system/dw-dynamic.service",
              "[Service]\nDynamicUser=yes\nExecStart=/bin/sh -c 'echo \"as $(id -u)\"; exit 7'\n")
    box.run(["systemctl", "daemon-reload"])
    box.run(["deathwatch", "install-unit", "dw-dynamic.service"])
    box.run(["systemctl", "start", "dw-dynamic.service"], check=False)
    box.wait_for("dw-dynamic.service", "ActiveState", ("failed",))
    shown = box.show("dw-dynamic.service", "ExecMainCode", "ExecMainStatus")
    check(shown == {"ExecMainCode": "1", "ExecMainStatus": "7"}, f"DynamicUser= service exited 7 through deathwatch ({shown})")
    cert = certificate(box, "/var/lib/deathwatch/dw-dynamic.service/dw-dynamic.service.json")
    check(cert["final"] and cert["outcome"]["exit_code"] == 7 and cert["process"]["argv"][-1].startswith("echo "),
          "its certificate, in its own state directory, says exit 7 and keeps the quoted argument whole")

    # Stop timeout: the whole cgroup SIGKILLed, deathwatch too; ExecStopPost=finalize completes.
    box.write("/etc/systemd/system/dw-stubborn.service",
              "[Service]\nExecStart=/bin/sh -c \"trap '' TERM; exec sleep infinity\"\nTimeoutStopSec=2\n")
    box.run(["systemctl", "daemon-reload"])
    box.run(["deathwatch", "install-unit", "dw-stubborn.service"])
    box.run(["systemctl", "start", "dw-stubborn.service"])
    stubborn_cert = "/var/lib/deathwatch/dw-stubborn.service.json"
    wait_until(lambda: '"running"' in box.read(stubborn_cert) if os.path.exists(
        os.path.join(root, stubborn_cert.lstrip("/"))) else False, what="the running certificate")
    box.run(["systemctl", "stop", "dw-stubborn.service"], timeout=60)
    shown = box.show("dw-stubborn.service", "Result")
    check(shown["Result"] == "timeout", f"systemd's stop timed out and escalated ({shown})")
    cert = certificate(box, stubborn_cert)
    check(cert["state"] == "final" and cert["finalized_by"]["service_result"] == "timeout",
          f"ExecStopPost=deathwatch finalize completed the certificate ({cert.get('finalized_by')})")
    check(cert["outcome"]["signal"] == "SIGKILL" and "stop escalation" in cert["cause"]["summary"],
          f"the cause names the stop escalation: {cert['cause']['summary']}")
    terms = signals_named(cert, "SIGTERM")
    check(terms and terms[0]["sender"]["pid"] == 1, "the SIGTERM systemd sent first, from pid 1, was on disk")

    # Type=notify: READY=1 and STATUS= from a child of the command reach systemd.
    box.write("/etc/systemd/system/dw-notify.service",
              "[Service]\nType=notify\nTimeoutStartSec=20\nExecStart=/usr/bin/deathwatch -o /var/lib/deathwatch/%n.json"
              " -- /bin/sh -c 'systemd-notify --ready --status=serving; exec sleep infinity'\n")
    box.run(["systemctl", "daemon-reload"])
    started = box.run(["systemctl", "start", "dw-notify.service"], check=False, timeout=60)
    shown = box.show("dw-notify.service", "ActiveState", "StatusText", "NotifyAccess")
    check(started.returncode == 0 and shown["ActiveState"] == "active" and shown["StatusText"] == "serving",
          f"Type=notify under NotifyAccess={shown['NotifyAccess']} reached active, status relayed ({shown})")
    box.run(["systemctl", "stop", "dw-notify.service"])

    # Restart=on-failure: the same ExecMainCode, ExecMainStatus, NRestarts with and without.
    # ($$$$: systemd itself expands $$ to $.)
    for name, command, status in (("exit", "exit 3", ("1", "3")), ("signal", "kill -USR1 $$$$", ("2", "10"))):
        for wrapped in (False, True):
            prefix = "/usr/bin/deathwatch -o /var/lib/deathwatch/%n.json -- " if wrapped else ""
            box.write(f"/etc/systemd/system/dw-restart-{name}-{int(wrapped)}.service",
                      "[Unit]\nStartLimitIntervalSec=60\nStartLimitBurst=3\n"
                      f"[Service]\nRestart=on-failure\nRestartSec=100ms\nExecStart={prefix}/bin/sh -c '{command}'\n")
        box.run(["systemctl", "daemon-reload"])
        results = []
        for wrapped in (False, True):
            unit = f"dw-restart-{name}-{int(wrapped)}.service"
            box.run(["systemctl", "start", unit], check=False)
            box.wait_for(unit, "ActiveState", ("failed",))
            results.append(box.show(unit, "ExecMainCode", "ExecMainStatus", "NRestarts", "Result"))
        print(f"{name}: bare {results[0]}, under deathwatch {results[1]}")
        check((results[0]["ExecMainCode"], results[0]["ExecMainStatus"]) == status and results[0]["NRestarts"] == "3",
              f"bare: ExecMainCode, ExecMainStatus {status}, restarted 3 times")
        check(results[0] == results[1], f"Restart=on-failure after `{command}`: systemd sees the same under deathwatch")
        cert = certificate(box, f"/var/lib/deathwatch/dw-restart-{name}-1.service.json")
        check(cert["final"], f"and each run left a final certificate ({cert['cause']['summary']})")
