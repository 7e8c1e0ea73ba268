#!/usr/bin/env bash
# Sets up and runs the whole CodeLab mesh with embedded defaults (SQLite, a local toy model).
# Extra arguments go to `codelab-mesh up` (e.g. --llm-config deploy/llm-proxy/models.example.yaml).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.local/bin:/usr/sbin:/usr/local/sbin:$PATH"
local_model="--local-model"
for arg in "$@"; do [ "$arg" = "--llm-config" ] && local_model=""; done
bash scripts/setup.sh $local_model
exec uv run --frozen codelab-mesh up "$@"
