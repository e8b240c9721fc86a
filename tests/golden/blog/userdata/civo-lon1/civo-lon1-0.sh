#!/usr/bin/env bash
# kosmos join: registers this machine into the Kosmos pool (known after apply) (fr-par).
# Progress: /var/log/kosmos-join.log and /var/lib/kosmos/join.state (running:<step> | ok | failed:<step>: <reason>).
# Re-running after a successful join does nothing; KOSMOS_JOIN_FORCE=1 joins again.
set -euo pipefail
umask 077

# --- Rendered by kosmos (components/userdata.py) -------------------------------------------------------------------
POOL_ID=(known after apply)

# Every path this script touches on the machine. KOSMOS_JOIN_ROOT re-roots them so the test suite can run the
# script in a sandbox; it is never set on a real machine.
ROOT="${KOSMOS_JOIN_ROOT:-}"
LOG_FILE="$ROOT/var/log/kosmos-join.log"
STATE_DIR="$ROOT/var/lib/kosmos"
STATE_FILE="$STATE_DIR/join.state"
SECRET_FILE="$ROOT/etc/kosmos/join.secret"
AGENT_DIR="$ROOT/usr/local/lib/kosmos"
CURRENT_STEP=start

mkdir -p "${LOG_FILE%/*}" "$STATE_DIR" "${SECRET_FILE%/*}" "$AGENT_DIR" 2>/dev/null || true

log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) kosmos-join[$CURRENT_STEP]: $*"
  printf '%s\n' "$line"
  printf '%s\n' "$line" >>"$LOG_FILE" 2>/dev/null || true
}

record_state() {
  printf '%s\n' "$1" >"$STATE_FILE" 2>/dev/null || true
}

fail() {
  log "FAILED: $1"
  record_state "failed:$CURRENT_STEP: $1"
  trap - EXIT
  exit 1
}

step() {
  CURRENT_STEP=$1
  record_state "running:$1"
  log "$2"
}

# Any command that dies under `set -e` still leaves a readable state behind.
on_exit() {
  local status=$?
  if [ "$status" -ne 0 ]; then
    record_state "failed:$CURRENT_STEP: unexpected exit status $status"
    log "FAILED: unexpected exit status $status"
  fi
}
trap on_exit EXIT

# What this machine must be, and where the node-agent comes from.
POOL_REGION=fr-par
AGENT_BASE_URL=https://scwcontainermulticloud.s3.fr-par.scw.cloud
AGENT_SHA256_AMD64=''
AGENT_SHA256_ARM64=''
ALLOWED_OS='ubuntu:20.04 ubuntu:22.04 ubuntu:24.04 debian:11 debian:12'
MIN_MEMORY_MIB=2048
MIN_DISK_GIB=20
DOWNLOAD_ATTEMPTS=5
OS_RELEASE="$ROOT/etc/os-release"
MEMINFO="$ROOT/proc/meminfo"
BACKOFF_SECONDS="${KOSMOS_JOIN_BACKOFF_SECONDS:-2}"

# Checked before any state is written, so a finished join stays recorded as ok.
if [ "${KOSMOS_JOIN_FORCE:-0}" != 1 ] && [ -f "$STATE_FILE" ] && [ "$(<"$STATE_FILE")" = ok ]; then
  CURRENT_STEP=finished
  log "already joined pool $POOL_ID; nothing to do (set KOSMOS_JOIN_FORCE=1 to join again)"
  trap - EXIT
  exit 0
fi

step root "checking privileges"
if [ "$(id -u)" -ne 0 ]; then
  fail "must run as root (running as uid $(id -u)); re-run with sudo"
fi


# The join key travels inside this script (root-only userdata or SSH stdin); park it in a root-only file so the
# agent step reads it the same way whatever the delivery, and it never reaches a command line.
JOIN_SECRET=REDACTED-JOIN-KEY
printf '%s' "$JOIN_SECRET" >"$SECRET_FILE"
chmod 0600 "$SECRET_FILE"
unset JOIN_SECRET

step os "checking the operating system"
os_field() {
  local line value
  while IFS= read -r line; do
    case "$line" in
      "$1="*)
        value="${line#*=}"
        value="${value#\"}"
        printf '%s' "${value%\"}"
        return 0
        ;;
    esac
  done <"$OS_RELEASE"
}
[ -r "$OS_RELEASE" ] || fail "cannot read $OS_RELEASE; Kosmos supports: $ALLOWED_OS"
os="$(os_field ID):$(os_field VERSION_ID)"
case " $ALLOWED_OS " in
  *" $os "*) log "operating system $os is supported" ;;
  *) fail "operating system $os is not supported; allowed: $ALLOWED_OS" ;;
esac

step arch "detecting the CPU architecture"
machine="$(uname -m)"
case "$machine" in
  x86_64 | amd64) arch=amd64 expected_sha256="$AGENT_SHA256_AMD64" ;;
  aarch64 | arm64) arch=arm64 expected_sha256="$AGENT_SHA256_ARM64" ;;
  *) fail "CPU architecture $machine is not supported; Kosmos node-agent exists for x86_64 (amd64) and aarch64 (arm64)" ;;
esac
log "architecture $machine -> node-agent_linux_$arch"

step resources "checking memory and disk"
mem_kib=0
while read -r key value _; do
  if [ "$key" = "MemTotal:" ]; then mem_kib=$value; fi
done <"$MEMINFO"
# MemTotal excludes memory the kernel reserves, so a 2 GiB machine reports ~1.9 GiB: allow 10% below the minimum.
if [ "$mem_kib" -lt $((MIN_MEMORY_MIB * 1024 * 90 / 100)) ]; then
  fail "only $((mem_kib / 1024)) MiB of RAM; a Kosmos node needs at least $MIN_MEMORY_MIB MiB"
fi
free_kib="$(df -Pk "$ROOT/" | awk 'NR == 2 { print $4 }')"
if [ "${free_kib:-0}" -lt $((MIN_DISK_GIB * 1024 * 1024)) ]; then
  log "WARNING: $((${free_kib:-0} / 1024 / 1024)) GiB free on /; Scaleway recommends at least $MIN_DISK_GIB GiB"
fi
log "$((mem_kib / 1024)) MiB of RAM"

step download "downloading the node-agent"
url="$AGENT_BASE_URL/node-agent_linux_$arch"
agent="$AGENT_DIR/node-agent_linux_$arch"
attempt=1
while :; do
  log "GET $url (attempt $attempt/$DOWNLOAD_ATTEMPTS)"
  if command -v curl >/dev/null 2>&1; then
    code="$(curl -sS -L --connect-timeout 10 --max-time 300 -o "$agent.partial" -w '%{http_code}' "$url" 2>>"$LOG_FILE")" || true
  else
    code=000
    if wget -q -T 30 -t 1 -O "$agent.partial" "$url" 2>>"$LOG_FILE"; then code=200; fi
  fi
  if [ "$code" = 200 ]; then break; fi
  rm -f "$agent.partial"
  if [ "$attempt" -ge "$DOWNLOAD_ATTEMPTS" ]; then
    fail "could not download $url after $DOWNLOAD_ATTEMPTS attempts (last HTTP status ${code:-none})"
  fi
  delay=$((BACKOFF_SECONDS * (1 << (attempt - 1))))
  log "HTTP status ${code:-none}; retrying in ${delay}s"
  sleep "$delay"
  attempt=$((attempt + 1))
done
if [ -n "$expected_sha256" ]; then
  actual_sha256="$(sha256sum "$agent.partial" | awk '{ print $1 }')"
  if [ "$actual_sha256" != "$expected_sha256" ]; then
    rm -f "$agent.partial"
    fail "sha256 mismatch for $url: expected $expected_sha256, got $actual_sha256"
  fi
  log "sha256 verified ($actual_sha256)"
fi
chmod 0700 "$agent.partial"
mv -f "$agent.partial" "$agent"

step agent "running the node-agent (this installs kubelet and joins the pool; it can take several minutes)"
[ -s "$SECRET_FILE" ] || fail "join secret $SECRET_FILE is missing or empty"
secret="$(<"$SECRET_FILE")"
redact() {
  local line
  while IFS= read -r line; do
    log "agent: ${line//"$secret"/[redacted]}"
  done
}
# The key reaches the agent through its environment only: never argv, never the log.
set +e
POOL_ID="$POOL_ID" POOL_REGION="$POOL_REGION" SCW_SECRET_KEY="$secret" \
  "$agent" -loglevel 0 -no-controller </dev/null 2>&1 | redact
agent_status=${PIPESTATUS[0]}
set -e
unset secret
if [ "$agent_status" -ne 0 ]; then
  fail "node-agent exited with status $agent_status (its output is in $LOG_FILE)"
fi

CURRENT_STEP=finished
record_state ok
log "joined pool $POOL_ID in $POOL_REGION; the node registers as ${HOSTNAME,,}"
printf 'KOSMOS_NODE_NAME=%s\n' "${HOSTNAME,,}"
trap - EXIT
