"""1,500 SIGUSR1 from 1,500 distinct processes to a target that counts them.
Each new sender used to mean an immediate full rewrite of the certificate (~1 MB once 1000
senders are listed), in ptrace mode while the target waited in its signal-delivery stop:
18 s of CPU, and in ptrace mode 1,454 of 1,495 signals merged while pending. Now deathwatch's
CPU stays bounded, the target handles about as many signals as without deathwatch, and
every sender is still in the event log (each could have been the killer)."""
from dwtest import *

N = 1500
MAX_CPU_S = 3.0 * CPU_SCALE


def storm(under_deathwatch, out=None):
    """Runs count_usr1 (under deathwatch or bare), sends the storm, returns
    (handled, deathwatch's CPU seconds or None, seconds the storm took, deathwatch's status)."""
    command = [program("count_usr1")]
    if under_deathwatch:
        # The report lists every sender (~70 KB): a file, not a pipe nobody reads yet.
        err_file = tempfile.TemporaryFile()
        proc = start(command, output=out, stdout=subprocess.PIPE, stderr=err_file)
    else:
        proc = subprocess.Popen(command, stdout=subprocess.PIPE)
    check(proc.stdout.readline().strip() == b"ready", "target ready (handler installed)")
    target = target_of(proc.pid, "count_usr1") if under_deathwatch else proc.pid
    began = time.monotonic()
    # Each signal from its own new process (fork, kill, exit), like N runs of /bin/kill.
    subprocess.run([program("kill_many"), str(target), str(N)], check=True)
    took = time.monotonic() - began
    os.kill(target, signal.SIGUSR2)
    output = proc.stdout.read().decode()
    # wait4 on deathwatch: its own CPU time (and its reaped target's, which is negligible).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if under_deathwatch:
        err_file.seek(0)
        print(err_file.read().decode(errors="replace")[-2000:], end="")
    handled = int(output.split("handled ")[1].split()[0])
    return handled, usage.ru_utime + usage.ru_stime, took, proc.returncode


bare, _, bare_took, _ = storm(False)
print(f"bare: {bare} of {N} handled in {bare_took:.2f}s")
out = os.path.join(workdir(), "cert.json")
watched, cpu, took, status = storm(True, out)
print(f"{MODE}: {watched} of {N} handled in {took:.2f}s; deathwatch CPU {cpu:.2f}s")
check(status == 0, f"target exited 0 ({status})")
check(cpu < MAX_CPU_S, f"deathwatch CPU {cpu:.2f}s < {MAX_CPU_S}s for {N} distinct senders")
# Under ASan a stop is held several times longer (the certificate's JSON, rewritten for each new
# sender, dominates: perf), so more signals merge while held: 44-60% got through in the
# sanitizer pass of 2026-12-03 (77% once before), ~87% without sanitizers. The share also
# follows the machine: deathwatch's ~200 us of CPU per new sender against kill_many's ~250 us
# per fork-kill-exit on 2 CPUs; a slow CI hour gave 78% (2026-12-03), 70-92% here. The
# defect this guards against (a certificate rewrite per sender while held) let 3% through.
check(watched >= (0.3 if SANITIZED else 0.6) * bare, f"{watched} handled under deathwatch, bare {bare}: few merged while held")
cert = load(out)
check(cert["final"], "final certificate written")
# eBPF sees every signal sent; ptrace only those delivered (merged ones never stop the target).
seen = N if MODE == "kernel" else watched
entries = len(signals_named(cert, "SIGUSR1"))
check(entries + cert["signals_not_listed"] >= seen * 0.99,
      f"every sender an entry or counted ({entries} + {cert['signals_not_listed']}, of {seen})")
with open(out + ".events") as f:
    events = [json.loads(line) for line in f]
senders = {e["sender_pid"] for e in events if e["signal"] == "SIGUSR1"}
check(len(senders) >= seen * 0.99, f"{len(senders)} distinct senders in the event log (of {seen})")
