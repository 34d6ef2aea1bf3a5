"""A plain exit(4): deathwatch exits 4 and the cause is `exit`, certain."""
from dwtest import *

out = os.path.join(workdir(), "cert.json")
rc, err = run([program("exit_code"), "4"], output=out)
check(rc == 4, f"deathwatch exits with the target's code 4 (got {rc})")
cert = load(out)
check(cert["schema"] == "deathwatch.certificate/1", "schema")
check(cert["final"] is True, "certificate is final")
check(cert["outcome"] == {"kind": "exited", "exit_code": 4, "signal": None, "core_dumped": False},
      f"outcome exited 4: {cert['outcome']}")
check(cert["cause"]["category"] == "exit" and cert["cause"]["confidence"] == "certain",
      f"cause exit/certain: {cert['cause']['category']}/{cert['cause']['confidence']}")
check(cert["process"]["argv"] == [program("exit_code"), "4"], "argv recorded as given")
check(cert["process"]["exe"] == os.path.realpath(program("exit_code")), "exe recorded")
check(cert["signals"] == [], "no signals recorded (deathwatch's own start-up SIGCONT is hidden)")
check(cert["resources"]["max_rss_kib"] > 0, "max RSS recorded")
check("exited with code 4" in err, "stderr report says how it ended")

rc, _ = run([program("exit_code"), "0"])
check(rc == 0, "exit 0 gives 0")

# An inherited SIG_IGN for SIGCHLD must not make deathwatch hang or miss the exit.
proc = subprocess.run([DEATHWATCH, "-q", "--", "sh", "-c", "echo hello; exit 3"], capture_output=True,
                      timeout=30, preexec_fn=lambda: signal.signal(signal.SIGCHLD, signal.SIG_IGN))
check(proc.returncode == 3 and proc.stdout == b"hello\n", f"SIGCHLD ignored by the caller: still exit 3 ({proc.returncode})")
