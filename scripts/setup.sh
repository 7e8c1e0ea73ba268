#!/usr/bin/env bash
# Installs what CodeLab needs on a Debian machine with Python 3.11, idempotently:
# uv, the workspace (uv.lock), nginx and redis-server from Debian, and for tests PostgreSQL.
# Usage: scripts/setup.sh [--tests] [--local-model]
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0; want_model=0
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
  python3 -m pip install --quiet uv || python3 -m pip install --quiet --user uv
fi
command -v nginx >/dev/null 2>&1 || apt_install nginx-light
command -v redis-server >/dev/null 2>&1 || apt_install redis-server
if [ "$want_tests" -eq 1 ]; then
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
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

log "syncing the workspace (uv.lock)"
uv sync --all-packages --frozen --quiet

if [ "$want_model" -eq 1 ]; then
  bash scripts/local_model/install.sh
fi
log "ready"
