#!/usr/bin/env bash
# kosmos join: installs this machine as its own, pre-registered node of the Kosmos pool (known after apply) (fr-par) with Scaleway's k8s-agent.
# Progress: /var/log/kosmos-join.log and /var/lib/kosmos/join.state (running:<step> | ok | failed:<step>: <reason>).
# Node identity: /var/lib/kosmos/node.json. A re-run does nothing; KOSMOS_JOIN_FORCE=1 runs the agent again.
set -euo pipefail
umask 077

POOL_ID=(known after apply)

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

POOL_REGION=fr-par
AGENT_VERSION=v0.1.5
KUBERNETES_VERSION=1.35.3
AGENT_BASE_URL=https://scw-fr-par-k8s-agent.s3.fr-par.scw.cloud/agent/0.1.5
AGENT_SHA256_AMD64=''
AGENT_SHA256_ARM64=''
API_URL=''
ALLOWED_OS='ubuntu:20.04 ubuntu:22.04 ubuntu:24.04 debian:11 debian:12'
MIN_MEMORY_MIB=2048
MIN_DISK_GIB=20
DOWNLOAD_ATTEMPTS=5
OS_RELEASE="$ROOT/etc/os-release"
MEMINFO="$ROOT/proc/meminfo"
AGENT_USERDATA="$ROOT/etc/scw-k8s-userdata"
BACKOFF_SECONDS="${KOSMOS_JOIN_BACKOFF_SECONDS:-2}"

json_field() {
  awk -v want="$1" '
    { buf = buf $0 "\n" }
    END {
      n = length(buf); depth = 0; key = ""; value_next = 0
      for (i = 1; i <= n; i++) {
        c = substr(buf, i, 1)
        if (c == "\"") {
          s = ""; bad = 0
          for (i++; i <= n; i++) {
            c = substr(buf, i, 1)
            if (c == "\\") {
              i++; e = substr(buf, i, 1)
              if (e == "/" || e == "\"" || e == "\\") s = s e; else bad = 1
              continue
            }
            if (c == "\"") break
            s = s c
          }
          if (depth == 1 && value_next) {
            if (key == want) { if (bad) exit 3; print s; exit 0 }
            value_next = 0
          } else if (depth == 1) key = s
        } else if (c == "{" || c == "[") { depth++; value_next = 0 }
        else if (c == "}" || c == "]") depth--
        else if (c == ":" && depth == 1) value_next = 1
        else if (c == "," && depth == 1) { value_next = 0; key = "" }
      }
      exit 1
    }'
}

print_identity() {
  local json
  json="$(<"$NODE_FILE")"
  printf 'KOSMOS_NODE_ID=%s\n' "$(json_field id <<<"$json")"
  printf 'KOSMOS_NODE_NAME=%s\n' "$(json_field name <<<"$json")"
}

NODE_USERDATA=REDACTED-NODE-CREDENTIALS
if [ "${KOSMOS_JOIN_FORCE:-0}" != 1 ] && [ -f "$STATE_FILE" ] && [ "$(<"$STATE_FILE")" = ok ] && [ -s "$NODE_FILE" ] \
  && [ -r "$AGENT_USERDATA" ] && [ "$(<"$AGENT_USERDATA")" = "$NODE_USERDATA" ]; then
  CURRENT_STEP=finished
  log "already joined pool $POOL_ID; nothing to do (KOSMOS_JOIN_FORCE=1 runs the agent again)"
  print_identity
  trap - EXIT
  exit 0
fi

step root "checking privileges"
if [ "$(id -u)" -ne 0 ]; then
  fail "must run as root (running as uid $(id -u)); re-run with sudo"
fi

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
if [ -s "$AGENT_USERDATA" ] && [ "$(<"$AGENT_USERDATA")" != "$NODE_USERDATA" ]; then
  log "this machine ran another node until now: reinstalling its components for this one"
  stop_agent_units
  rm -f "$ROOT/etc/scw-k8s-versions.json" "$NODE_FILE"
fi
printf '%s' "$NODE_USERDATA" >"$AGENT_USERDATA.partial"
chmod 0600 "$AGENT_USERDATA.partial"
mv -f "$AGENT_USERDATA.partial" "$AGENT_USERDATA"
SELF=""
if [ -f "$0" ] && [[ "$(<"$0")" == *"$NODE_USERDATA"* ]] 2>/dev/null; then SELF=$0; fi
unset NODE_USERDATA
on_failure() {
  if [ -n "$SELF" ]; then log "this node's credentials stay in $SELF for a retry (sudo bash $SELF); a join removes it"; fi
}

step credentials "reading this machine's node credentials"
[ -s "$AGENT_USERDATA" ] || fail "no node credentials in $AGENT_USERDATA (kosmos writes them before the agent runs)"
registration="$(<"$AGENT_USERDATA")"
metadata_url="$(json_field metadata_url <<<"$registration")" || fail "no metadata_url in $AGENT_USERDATA"
node_token="$(json_field node_secret_key <<<"$registration")" || fail "no node_secret_key in $AGENT_USERDATA"
unset registration

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
  x86_64 | amd64) arch=amd64 pinned_sha256="$AGENT_SHA256_AMD64" ;;
  aarch64 | arm64) arch=arm64 pinned_sha256="$AGENT_SHA256_ARM64" ;;
  *) fail "CPU architecture $machine is not supported; k8s-agent exists for x86_64 (amd64) and aarch64 (arm64)" ;;
esac
binary="k8s-agent_linux_$arch"
log "architecture $machine -> $binary $AGENT_VERSION"

step resources "checking memory and disk"
mem_kib=0
while read -r key value _; do
  if [ "$key" = "MemTotal:" ]; then mem_kib=$value; fi
done <"$MEMINFO"
if [ "$mem_kib" -lt $((MIN_MEMORY_MIB * 1024 * 90 / 100)) ]; then
  fail "only $((mem_kib / 1024)) MiB of RAM; a Kosmos node needs at least $MIN_MEMORY_MIB MiB"
fi
free_kib="$(df -Pk "$ROOT/" | awk 'NR == 2 { print $4 }')"
if [ "${free_kib:-0}" -lt $((MIN_DISK_GIB * 1024 * 1024)) ]; then
  log "WARNING: $((${free_kib:-0} / 1024 / 1024)) GiB free on /; Scaleway recommends at least $MIN_DISK_GIB GiB"
fi
log "$((mem_kib / 1024)) MiB of RAM"

step download "downloading k8s-agent $AGENT_VERSION"
https_only=1
[ -z "$pinned_sha256" ] || https_only=0
case "$AGENT_BASE_URL" in
  https://*) ;;
  *) [ "$https_only" = 0 ] || fail "$AGENT_BASE_URL is not https and no sha256 is pinned for $arch (kosmos:join.agentSha256.$arch)" ;;
esac

download() {
  local url=$1 out=$2 attempt=1 code delay
  while :; do
    log "GET $url (attempt $attempt/$DOWNLOAD_ATTEMPTS)"
    if command -v curl >/dev/null 2>&1; then
      local protocols=()
      if [ "$https_only" = 1 ]; then protocols=(--proto "=https" --proto-redir "=https"); fi
      code="$(curl -sS -L "${protocols[@]}" --connect-timeout 10 --max-time 300 -o "$out" -w '%{http_code}' "$url" 2>>"$LOG_FILE")" || true
    else
      local redirects=()
      if [ "$https_only" = 1 ]; then redirects=(--max-redirect=0); fi
      code=000
      if wget -q "${redirects[@]}" -T 30 -t 1 -O "$out" "$url" 2>>"$LOG_FILE"; then code=200; fi
    fi
    if [ "$code" = 200 ]; then return 0; fi
    rm -f "$out"
    if [ "$attempt" -ge "$DOWNLOAD_ATTEMPTS" ]; then
      fail "could not download $url after $DOWNLOAD_ATTEMPTS attempts (last HTTP status ${code:-none})"
    fi
    delay=$((BACKOFF_SECONDS * (1 << (attempt - 1))))
    log "HTTP status ${code:-none}; retrying in ${delay}s"
    sleep "$delay"
    attempt=$((attempt + 1))
  done
}

agent="$AGENT_DIR/$binary"
if [ -n "$pinned_sha256" ]; then
  expected_sha256="$pinned_sha256"
  log "expecting the pinned sha256 $expected_sha256"
else
  download "$AGENT_BASE_URL/checksums.txt" "$AGENT_DIR/checksums.txt.partial"
  expected_sha256=""
  while IFS= read -r line || [ -n "$line" ]; do
    read -r sum name _ <<<"${line%$'\r'}"
    [ "${name#\*}" != "$binary" ] || [ "$sum" = "${expected_sha256:=$sum}" ] || expected_sha256=twice
  done <"$AGENT_DIR/checksums.txt.partial"
  rm -f "$AGENT_DIR/checksums.txt.partial"
  [ "$expected_sha256" != twice ] || fail "$AGENT_BASE_URL/checksums.txt has two different sha256 for $binary; nothing was run"
  [[ "$expected_sha256" =~ ^[0-9a-f]{64}$ ]] || fail "$AGENT_BASE_URL/checksums.txt has no sha256 for $binary; nothing was run"
  log "expecting sha256 $expected_sha256 from $AGENT_BASE_URL/checksums.txt"
fi
download "$AGENT_BASE_URL/$binary" "$agent.partial"
if [ ! -s "$agent.partial" ]; then
  rm -f "$agent.partial"
  fail "$AGENT_BASE_URL/$binary answered an empty body; nothing was run"
fi
actual_sha256="$(sha256sum "$agent.partial" | awk '{ print $1 }')"
if [ "$actual_sha256" != "$expected_sha256" ]; then
  head_bytes="$(head -c 64 "$agent.partial" | tr -c '[:print:]' '.')"
  rm -f "$agent.partial"
  case "$head_bytes" in
    *"<html"* | *"<HTML"* | *"<!"[Dd][Oo][Cc]* | *"<?xml"*) head_bytes=" (it looks like an HTML page: $head_bytes)" ;;
    *) head_bytes="" ;;
  esac
  fail "sha256 mismatch for $AGENT_BASE_URL/$binary$head_bytes: expected $expected_sha256, got $actual_sha256; nothing was run"
fi
log "sha256 verified ($actual_sha256)"
chmod 0700 "$agent.partial"
mv -f "$agent.partial" "$agent"

step agent "running k8s-agent -kosmos (installs kubelet for this machine's node; can take minutes)"
refused="$STATE_DIR/agent.refused"
redact() {
  local line
  while IFS= read -r line; do
    log "agent: ${line//"$node_token"/[redacted]}"
    case "$line" in *": 429 "*) ;; *"Kosmos node: 4"??" "* | *"metadata: 4"??" "*) : >"$refused" ;; esac
  done
}
for attempt in 1 2 3 4 5; do
  rm -f "$refused"
  set +e
  (
    export POOL_ID POOL_REGION SCW_SECRET_KEY=unused-node-registered-by-kosmos
    if [ -n "$API_URL" ]; then export SCW_API_URL="$API_URL"; fi
    exec "$agent" -kosmos </dev/null 2>&1
  ) | redact
  agent_status=${PIPESTATUS[0]}
  set -e
  [ "$agent_status" != 0 ] || break
  [ ! -e "$refused" ] || fail "Scaleway refused this node's credentials, not retried (k8s-agent status $agent_status; see $LOG_FILE)"
  if [ "$agent_status" != 1 ] || [ "$attempt" = 5 ]; then
    fail "k8s-agent exited with status $agent_status (attempt $attempt/5; its output is in $LOG_FILE)"
  fi
  log "k8s-agent exited with status 1 (attempt $attempt/5); again in $((BACKOFF_SECONDS << (attempt - 1)))s"
  sleep $((BACKOFF_SECONDS << (attempt - 1)))
done

step identity "reading the node's identity from its metadata"
metadata_file="$STATE_DIR/metadata.partial"
header_file="$STATE_DIR/metadata.header"
if command -v curl >/dev/null 2>&1; then
  printf 'header = "X-Auth-Token: %s"\n' "$node_token" >"$header_file"
  code="$(curl -sS --config "$header_file" --connect-timeout 10 --max-time 60 -o "$metadata_file" -w '%{http_code}' "$metadata_url" 2>>"$LOG_FILE")" || true
else
  printf 'header = X-Auth-Token: %s\n' "$node_token" >"$header_file"
  code=000
  if wget -q --config="$header_file" -T 30 -t 1 -O "$metadata_file" "$metadata_url" 2>>"$LOG_FILE"; then code=200; fi
fi
rm -f "$header_file"
unset node_token
if [ "$code" != 200 ]; then
  rm -f "$metadata_file"
  fail "could not read the node metadata from $metadata_url (HTTP status ${code:-none})"
fi
metadata="$(<"$metadata_file")"
rm -f "$metadata_file"
node_id="$(json_field id <<<"$metadata")" || fail "the node metadata has no id"
node_name="$(json_field name <<<"$metadata")" || fail "the node metadata has no name"
[[ "$node_id" =~ ^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}$ ]] || fail "unexpected node id \"$node_id\" in the node metadata"
[[ "$node_name" =~ ^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$ ]] || fail "unexpected node name \"$node_name\" in the node metadata"
pool_version="$(json_field pool_version <<<"$metadata")" || true
case "$pool_version" in
  "$KUBERNETES_VERSION" | "$KUBERNETES_VERSION".*) ;;
  *) [ -z "$KUBERNETES_VERSION" ] || fail "node metadata reports pool version ${pool_version:-none}, not kosmos:cluster.version $KUBERNETES_VERSION (README, Upgrading)" ;;
esac
printf '{"id": "%s", "name": "%s", "pool_id": "%s", "region": "%s", "kubernetes_version": "%s"}\n' "$node_id" "$node_name" "$POOL_ID" "$POOL_REGION" "$pool_version" >"$NODE_FILE"

CURRENT_STEP=finished
if [ -n "$SELF" ]; then rm -f "$SELF"; fi
record_state ok
log "joined pool $POOL_ID in $POOL_REGION as node $node_name ($node_id)"
print_identity
trap - EXIT
