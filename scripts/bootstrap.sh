#!/usr/bin/env bash
# Sets up everything homeport's demo and tests need on a fresh Debian machine:
# Debian's caddy, git, rsync, restic (the S3 offsite of BackupPolicy) and etcd-server (the HA tests start their own etcd members on
# free loopback ports, never the system's), chromium (the status page's browser test runs it
# headless), then a virtualenv with homeport, its simulator (the `sim` extra) and its dev tools.
# Idempotent: re-running it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v caddy >/dev/null 2>&1 || need+=(caddy)
command -v git >/dev/null 2>&1 || need+=(git)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v restic >/dev/null 2>&1 || need+=(restic)
command -v etcd >/dev/null 2>&1 || need+=(etcd-server)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "bootstrap: installing Debian packages: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get install -y "${need[@]}" </dev/null || {
    $sudo apt-get update </dev/null
    $sudo apt-get install -y "${need[@]}" </dev/null
  }
fi

VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip </dev/null
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[sim,dev]' </dev/null
echo "bootstrap: ready ($("$VENV/bin/homeport" --version 2>/dev/null || echo homeport))"
