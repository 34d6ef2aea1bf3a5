"""Last words: where a native process was when it died. exit(4) from a named function, a
NULL write, abort(), a crash in a second thread, a stripped binary, a `sleep` and a read()
SIGKILLed in their syscalls; a clean exit pays nothing (no last_words) by default, and
--last-words=never/always are obeyed. Both backends must name the same frames."""
from dwtest import *

wd = workdir()
prog = program("last_words")
source = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "programs", "last_words.c")
with open(source) as f:
    lines = f.read().splitlines()
EXIT_LINE = next(i + 1 for i, l in enumerate(lines) if "exit(code);" in l)
NULL_LINE = next(i + 1 for i, l in enumerate(lines) if "*p = 42;" in l)
stripped = program("last_words_stripped")


def die(mode, binary=prog, extra=()):
    out = os.path.join(wd, f"{mode}-{os.path.basename(binary)}.json")
    rc, err = run([binary, mode], output=out, extra=extra, cwd=wd)
    return rc, err, load(out)


def functions(lw):
    return [f["function"] for f in lw["backtrace"]]


# exit(4) from fail_with_exit_code: the caller of exit, file:line from the debug info.
rc, err, cert = die("exit")
check(rc == 4, f"exit status 4 mirrored ({rc})")
lw = cert["last_words"]
check(lw is not None, "an exit(4) has last words")
names = functions(lw)
print("exit backtrace:", names)
check("fail_with_exit_code" in names and "main" in names, "fail_with_exit_code and main are on the stack")
check(names.index("fail_with_exit_code") < names.index("main"), "innermost first")
frame = lw["backtrace"][names.index("fail_with_exit_code")]
check(frame["module"] == os.path.realpath(prog), f"module is the program ({frame['module']})")
check(frame["file"] and frame["file"].endswith("last_words.c") and frame["line"] == EXIT_LINE,
      f"file:line last_words.c:{EXIT_LINE} ({frame['file']}:{frame['line']})")
check(frame["offset"].startswith("0x") and frame["address"].startswith("0x"), "offset and address in hex")
# The same built by clang (DWARF 5, no .debug_aranges): file:line still found.
rc, err, clang_cert = die("exit", program("last_words_clang"))
clang_frames = clang_cert["last_words"]["backtrace"]
clang_frame = next((f for f in clang_frames if f["function"] == "fail_with_exit_code"), None)
check(clang_frame and (clang_frame["file"] or "").endswith("last_words.c") and clang_frame["line"] == EXIT_LINE,
      f"clang-built: file:line last_words.c:{EXIT_LINE} ({clang_frame})")
check(lw["syscall"]["name"] == "exit_group" and lw["syscall"]["detail"] == "status 4", f"in exit_group ({lw['syscall']})")
check(lw["thread"]["tid"] == cert["process"]["pid"], "the main thread called exit")
check(lw["vm_rss_kib"] and lw["vm_rss_kib"] > 0 and lw["vm_hwm_kib"] >= lw["vm_rss_kib"], "VmRSS and VmHWM")
check(lw["threads"] == 1 and lw["open_fds"] and lw["open_fds"] >= 3, f"threads 1, open fds ({lw['open_fds']})")
check(lw["captured_by"], "captured_by says how")
check(f"fail_with_exit_code (last_words.c:{EXIT_LINE})" in cert["cause"]["summary"],
      f"the cause names the caller of exit ({cert['cause']['summary']})")
check("fail_with_exit_code" in err, "the report shows the frames")

# exit(4) while a second thread runs, and an exec while one runs: the threads the group exit
# (or the exec) takes down must never be taken for the caller. Repeated: it is a race.
for mode in ("thread-exit", "exec-exit"):
    for attempt in range(4):
        rc, err, cert = die(mode)
        lw = cert["last_words"]
        check(rc == 4 and lw is not None, f"{mode}: exit 4 with last words ({rc})")
        names = functions(lw)
        if "fail_with_exit_code" not in names or lw["thread"]["tid"] != cert["process"]["pid"]:
            fail(f"{mode} #{attempt}: the caller of exit, not a bystander: {names} {lw['thread']}")
    print(f"ok: {mode}: the exit's caller, 4 times")

# NULL write in write_through_null: the crash site first, with the fault explained.
rc, err, cert = die("null")
check(killed_by(rc, signal.SIGSEGV), f"died of SIGSEGV ({rc})")
lw = cert["last_words"]
names = functions(lw)
print("null backtrace:", names)
check(names[0] == "write_through_null", f"frame 0 is the crash site ({names[:2]})")
check(lw["fault_address"] == "0x0", f"fault address 0x0 ({lw['fault_address']})")
check(lw["fault_meaning"] == "address not mapped", f"fault meaning ({lw['fault_meaning']})")
check(lw["fault_mapping"] == "no mapping: NULL page", f"fault mapping ({lw['fault_mapping']})")
check(lw["instruction_pointer"] == lw["backtrace"][0]["address"], "instruction pointer is frame 0")
check(lw["syscall"] is None, "not in a syscall when it crashed")
check(lw["core"] is not None and "dumped" in lw["core"], "core facts present")
check(f"write_through_null (last_words.c:{NULL_LINE})" in cert["cause"]["summary"], cert["cause"]["summary"])

# abort() from give_up.
rc, err, cert = die("abort")
check(killed_by(rc, signal.SIGABRT), f"died of SIGABRT ({rc})")
names = functions(cert["last_words"])
print("abort backtrace:", names)
check("abort" in names and "give_up" in names and names.index("abort") < names.index("give_up"),
      "abort called from give_up")
check("abort() called from give_up" in cert["cause"]["summary"], cert["cause"]["summary"])

# The second thread crashes: its frames, not main's.
rc, err, cert = die("thread-crash")
lw = cert["last_words"]
names = functions(lw)
print("thread-crash backtrace:", names, lw["thread"])
check(names[:2] == ["write_through_null", "crash_in_worker"], f"the worker's frames ({names[:3]})")
check("main" not in names, "not main's stack")
check(lw["thread"]["tid"] != cert["process"]["pid"], "the crashing thread is not the main thread")
check(lw["threads"] == 2, f"two threads at death ({lw['threads']})")

# A stripped copy: module + offset, the module being the stripped binary.
rc, err, cert = die("null", stripped)
lw = cert["last_words"]
top = lw["backtrace"][0]
print("stripped frame 0:", top)
check(top["module"] == os.path.realpath(stripped), f"module is the stripped binary ({top['module']})")
check(top["function"] is None and top["file"] is None, "no names without symbols")
check(top["offset"] and int(top["offset"], 16) > 0, "an offset into the module")
# The same offset the unstripped binary's frame has: addr2line on the original finds it.
rc, err, full = die("null")
check(full["last_words"]["backtrace"][0]["offset"] == top["offset"], "offset matches the unstripped binary's")

# sleep SIGKILLed in clock_nanosleep.
out = os.path.join(wd, "sleep.json")
dw = start(["sleep", "30"], output=out)
target = target_of(dw.pid, "sleep")
time.sleep(0.3)
os.kill(target, signal.SIGKILL)
dw.wait(timeout=30)
lw = load(out)["last_words"]
print("sleep:", lw["syscall"], functions(lw)[:3])
check(lw["syscall"]["name"] == "clock_nanosleep", f"killed in clock_nanosleep ({lw['syscall']})")

# read() on a pipe, SIGKILLed: the syscall and what its descriptor is.
out = os.path.join(wd, "read.json")
dw = start([prog, "read"], output=out, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
check(dw.stdout.readline().strip() == b"ready", "reader ready")
target = target_of(dw.pid, "last_words")
time.sleep(0.2)
os.kill(target, signal.SIGKILL)
dw.wait(timeout=30)
lw = load(out)["last_words"]
print("read:", lw["syscall"])
check(lw["syscall"]["name"] == "read" and "fd 0" in lw["syscall"]["detail"] and "pipe" in lw["syscall"]["detail"],
      f"killed in read on fd 0, a pipe ({lw['syscall']})")
check("block_in_read" in functions(lw), "block_in_read on the stack")

# A clean exit pays nothing by default; --last-words=always keeps it; never keeps nothing.
rc, _, cert = die("clean")
check(rc == 0 and cert["last_words"] is None, "no last words for a clean exit")
rc, _, cert = die("clean", extra=["--last-words=always"])
check(cert["last_words"] is not None and "exit" in functions(cert["last_words"]), "--last-words=always keeps them (main returned: exit is on the stack)")
rc, _, cert = die("exit", extra=["--last-words=never"])
check(rc == 4 and cert["last_words"] is None, "--last-words=never captures nothing")
backend = [b for b in cert["watcher"]["backends"] if b["name"] == "last-words"]
check(backend and not backend[0]["active"], "watcher.backends says last words are off")
print("ok")
