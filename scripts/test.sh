#!/usr/bin/env bash
# Sets up and runs the whole test suite: lint, unit and contract tests, then the e2e suite
# that boots the real mesh (auth, llm-proxy, 2 runtimes, 2 gateways, nginx) on PostgreSQL + Redis.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:/usr/sbin:/usr/local/sbin:$PATH"
bash scripts/setup.sh --tests

echo "== lint =="
uv run --frozen ruff check .
uv run --frozen ruff format --check .
uv run --frozen mypy libs/*/src services/*/src

echo "== tests =="
set +e
uv run --frozen pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: that is a failure here" >&2
  exit 1
fi
exit "$status"
