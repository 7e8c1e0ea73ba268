"""Smoke-check the local model server: models list, chat, streaming chat, a tool call.

Stdlib only, so any Python 3.11 runs it (CI, the workspace venv, the local-model venv):

    python scripts/local_model/smoke.py                   # against a running server
    python scripts/local_model/smoke.py --start           # start serve.py, check, stop it

Exits non-zero with the failed check's name on the first failure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_PYTHON = HERE.parents[1] / ".run" / "local-model-venv" / "bin" / "python"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather for a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
    },
}


class SmokeError(Exception):
    """A check failed; the message names the check."""


def require(condition: object, message: str) -> None:
    # Not `assert`: python -O would silently skip every check.
    if not condition:
        raise SmokeError(message)


def post(url: str, body: dict[str, Any]) -> urllib.request.Request:
    return urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": "Bearer local"},
    )


def check(base: str, model: str) -> None:
    with urllib.request.urlopen(f"{base}/models", timeout=10) as resp:
        ids = [m["id"] for m in json.load(resp)["data"]]
    require(model in ids, f"models: {model!r} not served, got {ids}")

    chat = {"model": model, "max_tokens": 40, "temperature": 0}
    ask = {"messages": [{"role": "user", "content": "Say hello."}]}
    with urllib.request.urlopen(post(f"{base}/chat/completions", chat | ask), timeout=120) as resp:
        content = json.load(resp)["choices"][0]["message"]["content"]
    require(content and content.strip(), "chat: empty answer")

    deltas: list[str] = []
    done = False
    request = post(f"{base}/chat/completions", chat | ask | {"stream": True})
    with urllib.request.urlopen(request, timeout=120) as resp:
        for raw in resp:
            line = raw.decode().strip()
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                for choice in json.loads(line[6:])["choices"]:
                    deltas.append(choice["delta"].get("content") or "")
    require(done and "".join(deltas).strip(), "stream: no content deltas or no [DONE]")

    tools = {
        "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "What is the weather in Paris?"}],
    }
    with urllib.request.urlopen(post(f"{base}/chat/completions", chat | tools), timeout=120) as r:
        message = json.load(r)["choices"][0]["message"]
    calls = message.get("tool_calls") or []
    require(calls, f"tools: no tool_calls, got content {message.get('content')!r}")
    name = calls[0]["function"]["name"]
    require(name == "get_weather", f"tools: wrong call {calls[0]}")
    json.loads(calls[0]["function"]["arguments"])  # arguments must be a JSON document
    print(f"smoke ok: {model} at {base} (chat, stream, tool call {calls[0]['function']})")


def start(python: Path, port: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [str(python), str(HERE / "serve.py"), "--port", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    for line in proc.stdout or ():  # serve.py prints exactly one line once the model is loaded
        if line.startswith("local-model ready") or time.monotonic() > deadline:
            break
    if proc.poll() is not None:
        sys.exit(f"serve.py exited with {proc.returncode} before it was ready")
    return proc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--start", action="store_true", help="start serve.py for the check")
    parser.add_argument("--python", type=Path, default=DEFAULT_PYTHON, help="local-model venv")
    args = parser.parse_args()
    proc = start(args.python, args.port) if args.start else None
    try:
        check(f"http://127.0.0.1:{args.port}/v1", args.model)
    except (SmokeError, OSError, KeyError, ValueError) as exc:
        print(f"smoke FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
