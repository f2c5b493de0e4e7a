#!/usr/bin/env bash
# Runs a VMM (or any command) with its output streamed live, and stops it when the guest stops
# making progress: if no output line matches REGEX for SECONDS, the command gets SIGTERM (our VMM
# then prints each vCPU's state and the disk controllers' state before it exits), and SIGKILL
# 15 s later. A stuck guest ends in minutes with evidence instead of silently eating a timeout.
#
#   progress_guard.sh SECONDS REGEX COMMAND [ARGS...]
# Exit status: COMMAND's own (143 after the guard's SIGTERM; the guard says so on stderr).
set -uo pipefail
[ $# -ge 3 ] || { echo "usage: progress_guard.sh SECONDS REGEX COMMAND [ARGS...]" >&2; exit 2; }
limit=$1 re=$2
shift 2
out=$(mktemp "${TMPDIR:-/tmp}/progress-guard.XXXXXX")
trap 'rm -f "$out"' EXIT
"$@" > "$out" 2>&1 &
pid=$!
# A timeout around the guard (SIGTERM) reaches the command too, so the VMM still dumps its state.
trap 'kill -TERM "$pid" 2>/dev/null' TERM INT
tail -n +1 -f --pid="$pid" "$out" &
tailer=$!
last=-1 quiet=0
while kill -0 "$pid" 2>/dev/null; do
  sleep 2
  n=$(grep -cE -- "$re" "$out")
  if [ "$n" != "$last" ]; then last=$n quiet=0; else quiet=$((quiet + 2)); fi
  if [ "$quiet" -ge "$limit" ]; then
    echo "progress-guard: no progress line for $quiet s: SIGTERM to the VMM (its state dump follows)" >&2
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 15); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL "$pid" 2>/dev/null
    break
  fi
done
# wait returns early when a trapped signal arrives: wait again until the command is gone.
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
wait "$pid"; status=$?
wait "$tailer" 2>/dev/null
exit "$status"
