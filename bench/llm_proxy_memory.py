"""Memory flatness of the llm-proxy: RSS before and after N requests through the fast path.

Our proxy (one uvicorn worker, Redis and the SQLite ledger on, as deployed) in front of a
zero-delay fake provider, both in their own processes on loopback. After a warm-up (so
import-time and first-use allocations are not counted as growth) N chat requests are sent
closed-loop; the proxy's RSS is sampled every tenth of the run. Growth that keeps rising
across the samples is a leak; a step that flattens is allocator high-water.

Run: uv run python bench/llm_proxy_memory.py [--requests 20000] [--concurrency 32]
Writes bench/results/llm_proxy_memory.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from llm_proxy import RESULTS, free_port, rss_mb, spawn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codelab_testing.fake_provider import ServerThread
from codelab_testing.tokens import TestIssuer

BODY = {"model": "bench", "messages": [{"role": "user", "content": "Say hello in five words."}]}


async def drive(url: str, headers: dict[str, str], count: int, concurrency: int) -> int:
    """Send ``count`` requests with ``concurrency`` in flight; the number that failed."""
    failures = 0
    remaining = count

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures, remaining
        while remaining > 0:
            remaining -= 1
            async with session.post(url, json=BODY, headers=headers) as response:
                await response.read()
                failures += response.status != 200

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return failures


def start(work: Path, jwks_url: str, issuer: TestIssuer, processes: list[Any]) -> str:
    port = free_port()
    provider = f"http://127.0.0.1:{port}/v1"
    fake = [sys.executable, "-m", "codelab_testing.fake_provider", "--port", str(port)]
    processes.append(spawn(fake, {}, f"{provider}/models"))
    params = {"model": "openai/fake", "api_base": provider, "api_key": "bench"}
    config = work / "models.yaml"
    document = {"model_list": [{"model_name": "bench", "litellm_params": params}]}
    config.write_text(yaml.safe_dump(document))
    port = free_port()
    env = {
        "CODELAB_LLM_PROXY_CONFIG_PATH": str(config),
        "CODELAB_LLM_PROXY_JWKS_URL": jwks_url,
        "CODELAB_LLM_PROXY_ISSUER": issuer.issuer,
        "CODELAB_LLM_PROXY_LOG_LEVEL": "WARNING",
        "CODELAB_LLM_PROXY_REDIS_URL": "redis://127.0.0.1:6379/0",
        "CODELAB_LLM_PROXY_REDIS_PREFIX": f"bench:{os.getpid()}:memory:",
        "CODELAB_LLM_PROXY_DATA_DIR": str(work),
    }
    uvicorn = [sys.executable, "-m", "uvicorn", "codelab_llm_proxy.app:create_app", "--factory"]
    uvicorn += ["--port", str(port), "--log-level", "warning", "--no-access-log"]
    processes.append(spawn(uvicorn, env, f"http://127.0.0.1:{port}/healthz"))
    return f"http://127.0.0.1:{port}/v1/chat/completions"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--warmup", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    issuer = TestIssuer()

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(issuer.jwks())

    token = issuer.token(audience="codelab-llm-proxy", scope="llm:invoke", sub="bench")
    headers = {"Authorization": f"Bearer {token}"}
    jwks_app = Starlette(routes=[Route("/.well-known/jwks.json", jwks)])
    samples: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp, ServerThread(jwks_app, lifespan="off") as jw:
        processes: list[Any] = []
        try:
            url = start(Path(tmp), f"{jw.url}/.well-known/jwks.json", issuer, processes)
            proxy = processes[-1].pid
            idle = rss_mb(proxy)
            failed = asyncio.run(drive(url, headers, args.warmup, args.concurrency))
            before = rss_mb(proxy)
            started = time.monotonic()
            step = max(1, args.requests // 10)
            for done in range(0, args.requests, step):
                chunk = min(step, args.requests - done)
                failed += asyncio.run(drive(url, headers, chunk, args.concurrency))
                samples.append({"requests": done + chunk, "rss_mb": round(rss_mb(proxy), 1)})
                print(f"[memory] {samples[-1]}", file=sys.stderr, flush=True)
            elapsed = time.monotonic() - started
            after = rss_mb(proxy)
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=20)
    result = {
        "requests": args.requests,
        "warmup": args.warmup,
        "concurrency": args.concurrency,
        "failed": failed,
        "seconds": round(elapsed, 1),
        "requests_per_second": round(args.requests / elapsed, 1),
        "rss_idle_mb": round(idle, 1),
        "rss_before_mb": round(before, 1),
        "rss_after_mb": round(after, 1),
        "growth_mb": round(after - before, 1),
        "growth_bytes_per_request": round((after - before) * 1024 * 1024 / args.requests, 1),
        "samples": samples,
        "python": sys.version.split()[0],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "llm_proxy_memory.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
