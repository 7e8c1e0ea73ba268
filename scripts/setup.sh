#!/usr/bin/env bash
# Installs what CodeLab needs on a Debian machine with Python 3.11, idempotently:
# uv, the workspace (uv.lock), nginx and redis-server from Debian, and for tests PostgreSQL.
# Usage: scripts/setup.sh [--tests] [--local-model]
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0; want_model=0; pg_installed=0
for arg in "$@"; do
  case "$arg" in
    --tests) want_tests=1 ;;
    --local-model) want_model=1 ;;
    *) echo "setup.sh: unknown option $arg" >&2; exit 2 ;;
  esac
done

log() { printf '[setup] %s\n' "$*" >&2; }
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
export PATH="$HOME/.local/bin:/usr/sbin:/usr/local/sbin:$PATH"

apt_updated=0
apt_install() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"; $SUDO apt-get update -qq; apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if ! command -v uv >/dev/null 2>&1; then
  log "installing uv"
  python3 -m pip --version >/dev/null 2>&1 || apt_install python3-pip
  # Debian's own python3 refuses pip installs (PEP 668) unless told; uv is a standalone tool.
  python3 -m pip install --quiet uv 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages uv
fi
command -v nginx >/dev/null 2>&1 || apt_install nginx-light
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
if [ "$want_tests" -eq 1 ]; then
  if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    apt_install postgresql
    pg_installed=1
  fi
  # Validators for deploy/: compose files (no engine needed) and Prometheus config/rules.
  command -v docker-compose >/dev/null 2>&1 || apt_install docker-compose
  command -v promtool >/dev/null 2>&1 || apt_install prometheus
fi

# Redis: start a local, non-persistent one if nothing answers on 6379.
if ! redis-cli -p 6379 ping >/dev/null 2>&1; then
  log "starting redis-server on 127.0.0.1:6379"
  mkdir -p /tmp/codelab-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/codelab-redis --logfile /tmp/codelab-redis/redis.log
  for _ in $(seq 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
fi

if [ "$want_tests" -eq 1 ] && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  log "starting PostgreSQL"
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  for _ in $(seq 100); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
fi
if [ "$want_tests" -eq 1 ] && [ "$pg_installed" -eq 1 ]; then
  # A cluster we just created for the tests: let them connect as postgres over loopback
  # without a password, as the machines this project is developed on are set up.
  version="$(ls /etc/postgresql | sort -V | tail -1)"
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  if ! grep -q "codelab-tests" "$hba"; then
    log "allowing loopback connections as postgres for the test suite ($hba)"
    $SUDO sed -i '1i host all postgres 127.0.0.1/32 trust  # codelab-tests' "$hba"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main reload || true
  fi
fi

log "syncing the workspace (uv.lock)"
uv sync --all-packages --frozen --quiet

if [ "$want_model" -eq 1 ]; then
  # The llama.cpp wheel links the system OpenMP runtime, absent from minimal images.
  ldconfig -p 2>/dev/null | grep -q libgomp.so.1 || apt_install libgomp1
  bash scripts/local_model/install.sh
fi
log "ready"
