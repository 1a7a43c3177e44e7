#!/usr/bin/env bash
# Stop the emulators that start.sh started: only the PIDs in its pids file, and only if each
# process is still the one start.sh launched (same start time), so a reused PID is never hit.
# SIGTERM first, SIGKILL after ~10 s. Removes the pids file and env.sh. Safe to run twice.
set -euo pipefail

EMU=${KEYSTACK_EMULATOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keystack-emulators}
STATE_DIR=${KEYSTACK_EMULATOR_STATE_DIR:-$EMU/run}
PIDS="$STATE_DIR/pids"

starttime() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }

if [[ ! -s $PIDS ]]; then
  echo "stop.sh: nothing to stop ($PIDS missing or empty)"
  rm -f "$STATE_DIR/env.sh"
  exit 0
fi

declare -A live=()
while read -r name pid st; do
  [[ -n ${pid:-} ]] || continue
  if [[ "$(starttime "$pid")" == "$st" ]]; then
    kill -TERM "$pid" 2>/dev/null && live[$pid]=$name
  else
    echo "$name (pid $pid) already gone"
  fi
done <"$PIDS"

for _ in $(seq 1 40); do
  for pid in "${!live[@]}"; do
    # A child of ours that has exited but is not yet reaped counts as gone.
    state=$(awk '{ sub(/^.*\) /, ""); print $1 }' "/proc/$pid/stat" 2>/dev/null || true)
    if [[ -z $state || $state == Z ]]; then
      echo "${live[$pid]} (pid $pid) stopped"
      unset "live[$pid]"
    fi
  done
  ((${#live[@]} == 0)) && break
  sleep 0.25
done
for pid in "${!live[@]}"; do
  echo "${live[$pid]} (pid $pid) did not stop on SIGTERM; sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
done

rm -f "$PIDS" "$STATE_DIR/env.sh"
