#!/usr/bin/env bash
# Three deaths of a JVM under deathwatch:
#   (a) the program calls System.exit(4) itself;
#   (b) another process (a separate bash) sends it SIGTERM;
#   (c) another process (a separate bash) sends it SIGKILL.
# Usage: demo/run-demo.sh   (env: DEATHWATCH=/path/to/deathwatch, DEMO_TIMEOUT=seconds, default 30)
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deathwatch=${DEATHWATCH:-$here/../build/deathwatch}
wait_limit=${DEMO_TIMEOUT:-30}   # seconds, for every wait below

exec 3>&2   # our stderr, for messages while fd 2 is silenced (see wait_bounded)
die() { echo "run-demo: $*" >&3; exit 1; }

for tool in javac java jq pgrep; do
  command -v "$tool" >/dev/null || die "$tool is required but not on PATH (jq: apt-get install jq; pgrep: procps)"
done
[[ -x $deathwatch ]] || die "deathwatch not found at $deathwatch (build it, or set DEATHWATCH)"

work=$(mktemp -d "${TMPDIR:-/tmp}/deathwatch-demo.XXXXXX")
bg_pid=
cleanup() {
  # Only ever the deathwatch this script started (and its JVM, via its pid).
  if [[ -n $bg_pid ]] && kill -0 "$bg_pid" 2>/dev/null; then
    pkill -KILL -P "$bg_pid" 2>/dev/null || true
    kill -KILL "$bg_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

javac -d "$work/classes" "$here/SelfKill.java"

header() { printf '\n==== %s ====\n' "$*"; }

# Short summary of a certificate.
summary() {
  [[ -s $1 ]] || { echo "  certificate: none written at $1 (unexpected)"; return 0; }
  jq -r '"  certificate: \(input_filename)",
         "    outcome:    \(.outcome.kind) (exit_code \(.outcome.exit_code), signal \(.outcome.signal))",
         "    category:   \(.cause.category)",
         "    confidence: \(.cause.confidence)",
         "    summary:    \(.cause.summary)",
         "    sender:     \(if .cause.sender then "\(.cause.sender.comm // "(name unknown)") (pid \(.cause.sender.pid // "unknown"))" else "unknown" end)"' "$1"
}

# Sets javapid to the pid of the java child of deathwatch $1, once the JVM runs main().
java_child_of() {
  local parent=$1 child= i
  javapid=
  for ((i = 0; i < wait_limit * 10; i++)); do
    child=$(pgrep -P "$parent" -x java || true)
    if [[ -n $child ]]; then
      # Wait until the JVM has started main() (its banner is in its stdout file), so that
      # the signal hits a JVM whose shutdown hook is installed.
      if grep -q 'running, pid' "$work/$2.out" 2>/dev/null; then
        javapid=$child
        return 0
      fi
    fi
    kill -0 "$parent" 2>/dev/null || die "deathwatch (pid $parent) ended before the JVM was running"
    sleep 0.1
  done
  die "no running java child of deathwatch (pid $parent) after ${wait_limit}s"
}

# Waits (bounded) for background deathwatch $1; sets status to its exit status.
wait_bounded() {
  local pid=$1 i
  status=0
  for ((i = 0; i < wait_limit * 10; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      wait "$pid" || status=$?
      return 0
    fi
    sleep 0.1
  done
  die "deathwatch (pid $pid) still running after ${wait_limit}s: it hangs"
}

# Runs "deathwatch -o $1.json -- java SelfKill wait" in the background, then has a
# separate bash process send it signal $2. Sets status to deathwatch's exit status.
kill_from_another_shell() {
  local name=$1 sig=$2
  # The JVM's stdout goes through a file (and on to ours) so we can see when main() runs.
  "$deathwatch" -o "$work/$name.json" -- java -cp "$work/classes" SelfKill wait \
    > >(tee "$work/$name.out") &
  bg_pid=$!
  java_child_of "$bg_pid" "$name"
  echo "  [demo] deathwatch pid $bg_pid, JVM pid $javapid; a separate bash runs: kill -$sig $javapid"
  # A separate bash process sends the signal; it prints its own pid first, so that the
  # certificate's sender pid can be checked against it.
  bash -c "echo \"  [demo] sender: bash pid \$\$\"; kill -$sig $javapid"
  # stderr silenced while waiting: only bash's own "Killed" job notice would go there
  # (deathwatch writes its report to the stderr it inherited; the status is printed below).
  wait_bounded "$bg_pid" 2>/dev/null
  bg_pid=
  sleep 0.2   # let tee flush the JVM's last line before our summary
}

echo "deathwatch: $deathwatch"
echo "java:       $(java -version 2>&1 | head -n1)"

# ---------------------------------------------------------------------------------
header "(a) self exit: the JVM calls System.exit(4) after 2 s; its shutdown hook runs"
echo "  [demo] $ deathwatch -o a.json -- java -cp CLASSES SelfKill exit"
status=0
timeout -k 5 "$wait_limit" \
  "$deathwatch" -o "$work/a.json" -- java -cp "$work/classes" SelfKill exit || status=$?
[[ $status -ne 124 ]] || die "deathwatch still running after ${wait_limit}s: it hangs"
echo "  [demo] exit status: $status (expected 4)"
summary "$work/a.json"

# ---------------------------------------------------------------------------------
header "(b) SIGTERM from another process: a separate 'bash -c kill -TERM' ends the JVM"
echo "  The JVM catches SIGTERM, runs its shutdown hook and exits with 128+15 = 143;"
echo "  the certificate should name that bash process as the sender. That bash exits right"
echo "  after kill(): when deathwatch looks it up it may be a zombie (name, no command line)"
echo "  or gone (then only its pid and uid, from the signal's siginfo, are known)."
status=0
kill_from_another_shell b TERM
echo "  [demo] exit status: $status (expected 143)"
summary "$work/b.json"

# ---------------------------------------------------------------------------------
header "(c) SIGKILL from another process: a separate 'bash -c kill -9' ends the JVM"
echo "  SIGKILL cannot be caught: no shutdown hook runs, the status is 128+9 = 137."
echo "  ptrace never sees a SIGKILL being delivered, and this deathwatch has no kernel"
echo "  backend (audit/eBPF), so the sender is expected to be reported as unknown."
status=0
kill_from_another_shell c 9
echo "  [demo] exit status: $status (expected 137)"
summary "$work/c.json"

echo
echo "Full JSON certificates were in $work (removed on exit; run the commands above with -o to keep one)."
