#!/usr/bin/env bash
# kosmos leave: undoes a kosmos join on this machine so that the next join registers a new node.
set -euo pipefail
umask 077

POOL_ID=0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d

ROOT="${KOSMOS_JOIN_ROOT:-}"
LOG_FILE="$ROOT/var/log/kosmos-join.log"
STATE_DIR="$ROOT/var/lib/kosmos"
STATE_FILE="$STATE_DIR/join.state"
NODE_FILE="$STATE_DIR/node.json"
AGENT_DIR="$ROOT/usr/local/lib/kosmos"
CURRENT_STEP=start

mkdir -p "${LOG_FILE%/*}" "$STATE_DIR" "$AGENT_DIR" 2>/dev/null || true

log() {
  local line
  line="$(date -u +%Y-%m-%dT%H:%M:%SZ) kosmos-join[$CURRENT_STEP]: $*"
  printf '%s\n' "$line"
  printf '%s\n' "$line" >>"$LOG_FILE" 2>/dev/null || true
}

record_state() {
  printf '%s\n' "$1" >"$STATE_FILE" 2>/dev/null || true
}

on_failure() { :; }

fail() {
  log "FAILED: $1"
  record_state "failed:$CURRENT_STEP: $1"
  on_failure
  trap - EXIT
  exit "${2:-1}"
}

step() {
  CURRENT_STEP=$1
  record_state "running:$1"
  log "$2"
}

on_exit() {
  local status=$?
  if [ "$status" -ne 0 ]; then fail "unexpected exit status $status" "$status"; fi
}
trap on_exit EXIT
trap 'fail interrupted' INT TERM HUP
stop_agent_units() {
  local unit
  command -v systemctl >/dev/null 2>&1 || return 0
  for unit in kubelet containerd; do
    if systemctl cat "$unit.service" >/dev/null 2>&1; then
      log "stopping and disabling $unit"
      systemctl disable --now "$unit.service" || log "WARNING: could not stop $unit"
    fi
  done
}

step leave "leaving the Kosmos pool $POOL_ID"
if [ "$(id -u)" -ne 0 ]; then
  fail "must run as root (running as uid $(id -u)); re-run with sudo"
fi
stop_agent_units
# k8s-agent skips registration while its cache exists (metadata.go) and skips components its versions file lists
# (versions.go): both go, or a later join would reuse the deleted node's credentials.
rm -f "$AGENT_DIR"/k8s-agent_linux_* "$NODE_FILE" \
  "$ROOT/etc/scw-k8s-userdata" "$ROOT/etc/scw-k8s-versions.json"
CURRENT_STEP=finished
record_state left
log "left the pool; the next join registers a new node"
trap - EXIT
