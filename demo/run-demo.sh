#!/usr/bin/env bash
# Three deaths of a JVM under deathwatch:
#   (a) the program calls System.exit(4) itself;
#   (b) another process (a separate bash) sends it SIGTERM;
#   (c) another process (a separate bash) sends it SIGKILL.
# Usage: demo/run-demo.sh
#   env: DEATHWATCH=/path/to/deathwatch (default: ../build/deathwatch next to this script)
#        DEMO_TIMEOUT=seconds for every wait (default 30); DEMO_KEEP=1 keeps the JSON
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
deathwatch=${DEATHWATCH:-$here/../build/deathwatch}
wait_limit=${DEMO_TIMEOUT:-30}

exec 3>&2   # our stderr, for messages while fd 2 is silenced (see kill_from_another_shell)
die() { echo "run-demo: $*" >&3; exit 1; }

for tool in javac java jq pgrep timeout; do
  command -v "$tool" >/dev/null || die "$tool is required but not on PATH (jq: apt-get install jq)"
done
[[ -x $deathwatch ]] || die "deathwatch not found at $deathwatch (build it, or set DEATHWATCH)"

work=$(mktemp -d "${TMPDIR:-/tmp}/deathwatch-demo.XXXXXX")
bg_pid=
cleanup() {
  # Only the deathwatch this script started, and its JVM (found by parent pid).
  if [[ -n $bg_pid ]] && kill -0 "$bg_pid" 2>/dev/null; then
    pkill -KILL -P "$bg_pid" 2>/dev/null || true
    kill -KILL "$bg_pid" 2>/dev/null || true
  fi
  if [[ -n ${DEMO_KEEP:-} ]]; then echo "run-demo: certificates kept in $work" >&3; else rm -rf "$work"; fi
}
trap cleanup EXIT

javac -d "$work/classes" "$here/SelfKill.java"

header() { printf '\n==== %s ====\n' "$*"; }

# Short summary of the certificate $1.
summary() {
  [[ -s $1 ]] || { echo "  certificate: none written at $1 (unexpected)"; return 0; }
  jq -r '"  certificate \(input_filename | split("/") | last):",
         "    outcome:    \(.outcome.kind) (exit_code \(.outcome.exit_code), signal \(.outcome.signal))",
         "    category:   \(.cause.category)",
         "    confidence: \(.cause.confidence)",
         "    summary:    \(.cause.summary)",
         "    sender:     \(if .cause.sender then "\(.cause.sender.comm // "(name unknown)") (pid \(.cause.sender.pid // "unknown"))" else "unknown" end)",
         "    backends:   \([.watcher.backends[] | select(.active) | .name] | join(", "))"' "$1"
}

# Compares the certificate $1's sender with the pid $2 that really sent the signal.
check_sender() {
  local got_pid got_comm
  got_pid=$(jq -r '.cause.sender.pid // empty' "$1" 2>/dev/null || true)
  got_comm=$(jq -r '.cause.sender.comm // empty' "$1" 2>/dev/null || true)
  if [[ -z $got_pid ]]; then
    echo "  [demo] check: sender NOT named (the real sender was bash pid $2)"
  elif [[ $got_pid != "$2" ]]; then
    echo "  [demo] check: WRONG sender: certificate says pid $got_pid, the real sender was bash pid $2"
  elif [[ $got_comm == bash ]]; then
    echo "  [demo] check: sender correctly named: bash pid $2"
  elif [[ -z $got_comm ]]; then
    echo "  [demo] check: right pid ($2) but no name: the sender was gone before it could be read"
  else
    echo "  [demo] check: right pid ($2) but named '$got_comm', not bash"
  fi
}

# Sets javapid to the pid of the java child of deathwatch $1, once the JVM runs main()
# (its banner is in $work/$2.out), so that the signal finds the shutdown hook installed.
java_child_of() {
  local parent=$1 child i
  javapid=
  for ((i = 0; i < wait_limit * 10; i++)); do
    child=$(pgrep -P "$parent" -x java || true)
    if [[ -n $child ]] && grep -q 'running, pid' "$work/$2.out" 2>/dev/null; then
      javapid=$child
      return 0
    fi
    kill -0 "$parent" 2>/dev/null || die "deathwatch (pid $parent) ended before the JVM was running"
    sleep 0.1
  done
  die "no running java child of deathwatch (pid $parent) after ${wait_limit}s"
}

# Waits for the background deathwatch $1, at most wait_limit seconds; sets status.
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
  die "deathwatch (pid $pid) still running ${wait_limit}s after the signal: it hangs"
}

# Runs "deathwatch -o $1.json -- java SelfKill wait" in the background, then has a
# separate bash process send the JVM signal $2. Sets status (deathwatch's exit status)
# and sender_pid (the pid of that bash).
kill_from_another_shell() {
  local name=$1 sig=$2
  # The JVM's stdout also goes to a file, to see when main() runs.
  "$deathwatch" -o "$work/$name.json" -- java -cp "$work/classes" SelfKill wait \
    > >(tee "$work/$name.out") &
  bg_pid=$!
  java_child_of "$bg_pid" "$name"
  echo "  [demo] deathwatch pid $bg_pid, JVM pid $javapid; a separate bash runs: kill -$sig $javapid"
  # The sender: a bash of its own, which notes its pid (to check the certificate against).
  bash -c "echo \$\$ > '$work/$name.sender'; kill -$sig $javapid"
  sender_pid=$(cat "$work/$name.sender")
  echo "  [demo] the sender was bash pid $sender_pid"
  # fd 2 silenced while waiting: only bash's "Killed" job notice would go there
  # (deathwatch writes its report to the stderr it inherited).
  wait_bounded "$bg_pid" 2>/dev/null
  bg_pid=
  sleep 0.2   # let tee pass on the JVM's last line before the summary
}

echo "deathwatch: $deathwatch"
echo "java:       $(java -version 2>&1 | head -n1)"

# ---------------------------------------------------------------------------------------
header "(a) self exit: the JVM calls System.exit(4) after 2 s; its shutdown hook runs"
echo "  Nobody sends a signal: expected exit status 4, category exit, no sender."
echo "  [demo] \$ deathwatch -o a.json -- java -cp CLASSES SelfKill exit"
status=0
timeout -k 5 "$wait_limit" \
  "$deathwatch" -o "$work/a.json" -- java -cp "$work/classes" SelfKill exit || status=$?
[[ $status -ne 124 ]] || die "deathwatch still running after ${wait_limit}s: it hangs"
echo "  [demo] exit status: $status (expected 4)"
summary "$work/a.json"

# ---------------------------------------------------------------------------------------
header "(b) SIGTERM from another process: a separate 'bash -c kill -TERM' ends the JVM"
echo "  The JVM catches SIGTERM, runs its shutdown hook and exits with 128+15 = 143;"
echo "  the certificate should name that bash as the sender."
kill_from_another_shell b TERM
echo "  [demo] exit status: $status (expected 143)"
summary "$work/b.json"
check_sender "$work/b.json" "$sender_pid"

# ---------------------------------------------------------------------------------------
header "(c) SIGKILL from another process: a separate 'bash -c kill -9' ends the JVM"
echo "  SIGKILL cannot be caught: no shutdown hook runs, the status is 128+9 = 137."
echo "  Only a kernel backend (eBPF) sees who sends a SIGKILL: ptrace is never told of it."
kill_from_another_shell c 9
echo "  [demo] exit status: $status (expected 137)"
summary "$work/c.json"
check_sender "$work/c.json" "$sender_pid"
if [[ $(jq -r '[.watcher.backends[] | select(.name == "ebpf" and .active)] | length' "$work/c.json" 2>/dev/null) == 1 ]]; then
  echo "  [demo] the eBPF kernel backend was active: it can name a SIGKILL's sender."
else
  echo "  [demo] no kernel backend was active (ptrace only): a SIGKILL's sender cannot be"
  echo "         known, so 'unknown sender' is the expected, honest answer here."
fi

echo
echo "Done. (DEMO_KEEP=1 keeps the JSON certificates; they were in $work.)"
