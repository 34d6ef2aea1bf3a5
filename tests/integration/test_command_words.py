"""Everything after `--` reaches the command byte for byte: brackets, braces, `--`, empty
words (CLI11 once read `[.a,.b]` as a list and ran `jq -c .a .b`). Checked through the
command's own argv, with and without `--`, and through jq as the review found it."""
from dwtest import *

words = ["[.a,.b]", "[]", "[%s]", "[[1,2]]", "{a,b}", "a=b", "--", "-q", "", "x y"]
printer = [sys.executable, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))"]
for extra, use_separator in (((), True), (("-q",), True), (("-q",), False)):
    args = [DEATHWATCH, *extra] + (["--"] if use_separator else []) + printer + words
    proc = subprocess.run(args, capture_output=True, timeout=60)
    got = json.loads(proc.stdout.decode() or "null")
    check(proc.returncode == 0 and got == words,
          f"argv intact ({'with' if use_separator else 'without'} --, {list(extra)}): {got}")

if have("jq"):
    proc = subprocess.run([DEATHWATCH, "-q", "--", "jq", "-c", "[.a,.b]"], input=b'{"a":1,"b":2}',
                          capture_output=True, timeout=60)
    check(proc.returncode == 0 and proc.stdout == b"[1,2]\n", f"jq -c '[.a,.b]' prints [1,2] ({proc.stdout!r})")
else:
    fail("jq is missing (scripts/setup.sh installs it)")

out = os.path.join(workdir(), "cert.json")
rc, _ = run(printer + words, output=out)
check(load(out)["process"]["argv"][3:] == words, "the certificate's argv is the same")

# An option's value attached to it (-oFILE) must not hide the -- that follows.
wd = workdir()
proc = subprocess.run([DEATHWATCH, "-q", f"-o{wd}/x.zip", "--"] + printer + words, capture_output=True, timeout=60)
check(proc.returncode == 0 and json.loads(proc.stdout.decode() or "null") == words,
      f"-oFILE then --: argv intact ({proc.returncode}, {proc.stderr!r})")
check(load(f"{wd}/x.zip")["final"], "the certificate went to the attached file name")
