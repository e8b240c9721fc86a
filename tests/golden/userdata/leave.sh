#!/usr/bin/env bash
# kosmos leave: undoes a kosmos join on this machine so it can join again later.
set -euo pipefail
umask 077

# --- Rendered by kosmos (components/userdata.py) -------------------------------------------------------------------
POOL_ID=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d

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

step leave "leaving the Kosmos pool $POOL_ID"
if [ "$(id -u)" -ne 0 ]; then
  fail "must run as root (running as uid $(id -u)); re-run with sudo"
fi
if command -v systemctl >/dev/null 2>&1; then
  for unit in kubelet containerd; do
    if systemctl cat "$unit.service" >/dev/null 2>&1; then
      log "stopping and disabling $unit"
      systemctl disable --now "$unit.service" || log "WARNING: could not stop $unit"
    fi
  done
fi
rm -f "$SECRET_FILE" "$AGENT_DIR"/node-agent_linux_*
CURRENT_STEP=finished
record_state left
log "left the pool; this machine can join again"
trap - EXIT
