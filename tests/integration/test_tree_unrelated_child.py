"""An earlier child's failure does not explain a later exit (issue 8 item 9):
`bash -c 'grep -q nomatch FILE; sleep 1; exit 3'` exited by itself, not "because its child
grep exited with code 1"."""
from dwtest import *

wd = workdir()
text = os.path.join(wd, "text")
with open(text, "w") as f:
    f.write("nothing to see\n")
out = os.path.join(wd, "cert.json")
code, err = run(["bash", "-c", f"grep -q nomatch {text}; sleep 1; exit 3"], output=out)
check(code == 3, f"exit code 3 ({code})")
cert = load(out)
grep = [d for d in cert["descendants"] if d["argv"][:1] == ["grep"]]
check(len(grep) == 1 and grep[0]["outcome"]["exit_code"] == 1, "grep's exit 1 is listed")
c = cert["cause"]
check(c["root_cause"] is None, f"no root cause ({c['root_cause'] and c['root_cause']['summary']})")
check("grep" not in c["summary"], f"the cause does not blame grep ({c['summary']})")
check(c["category"] == "exit" and c["confidence"] == "certain", f"exit/certain ({c['category']})")

# The true case still holds: the last child's failure, just before the exit, explains it.
out = os.path.join(wd, "cert2.json")
code, err = run(["bash", "-c", f"sleep 0.2; grep -q nomatch {text}; exit 3"], output=out)
cert = load(out)
rc = cert["cause"]["root_cause"]
check(rc is not None and rc["argv"][:1] == ["grep"], "a failure just before the exit is its root cause")
