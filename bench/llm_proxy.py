"""llm-proxy overhead against a zero-delay fake provider, next to LiteLLM's own proxy.

In one run, each target in its own process on loopback, all in front of the same fake
provider process: direct-to-provider, our proxy's fast path, our proxy's litellm path, our
cache hits, and LiteLLM's proxy (one worker, same model list) when it is installed in the
throwaway venv ``.run/litellm-proxy-venv`` (never in the workspace lock)::

    uv venv .run/litellm-proxy-venv -p 3.11
    VIRTUAL_ENV=.run/litellm-proxy-venv uv pip install 'litellm[proxy]<1.110'

Measures open-loop latency at fixed rates (from the scheduled send time), closed-loop max
throughput, CPU ms per request and RSS of the serving process, and streaming TTFT.
Writes bench/results/llm_proxy.json and .md.

Run: uv run python bench/llm_proxy.py [--seconds 4] [--rates 10,30,100,300]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codelab_testing.fake_provider import ServerThread
from codelab_testing.tokens import TestIssuer

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LITELLM_BIN = ROOT / ".run" / "litellm-proxy-venv" / "bin" / "litellm"
MESSAGES = [{"role": "user", "content": "Say hello in five words."}]
CLK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (LiteLLM's CLI may serve from a child process)."""
    pids = [pid]
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            pids.extend(tree(int(child)))
    return pids


def cpu_seconds(pid: int) -> float:
    total = 0.0
    for each in tree(pid):
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLK
    return total


def rss_mb(pid: int) -> float:
    total = 0.0
    for each in tree(pid):
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) / 1024
    return total


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def spawn(args: list[str], env: dict[str, str], url: str) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        args, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{args[0]} did not start")


class Target:
    """One thing to load: a URL, a model name, headers, and the process that serves it."""

    def __init__(self, name: str, url: str, model: str, headers: dict[str, str], pid: int):
        self.name, self.url, self.model, self.headers, self.pid = name, url, model, headers, pid

    def body(self, stream: bool = False, **extra: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": MESSAGES, "stream": stream, **extra}


async def one(session: aiohttp.ClientSession, target: Target, body: dict[str, Any]) -> float:
    """Seconds to the full answer; raises on a non-200."""
    started = time.perf_counter()
    async with session.post(target.url, json=body, headers=target.headers) as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"{target.name}: HTTP {response.status}")
    return time.perf_counter() - started


async def open_loop(target: Target, rate: float, seconds: float, **extra: Any) -> dict[str, Any]:
    """Sends at fixed times; latency counts from the scheduled time (no coordinated omission)."""
    count = int(rate * seconds)
    latencies: list[float] = []
    errors = 0
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        timeout=timeout, connector=aiohttp.TCPConnector(limit=0)
    ) as session:
        start = time.perf_counter() + 0.05

        async def fire(i: int) -> None:
            nonlocal errors
            scheduled = start + i / rate
            await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
            try:
                await one(session, target, target.body(**extra))
                latencies.append(time.perf_counter() - scheduled)
            except Exception:
                errors += 1

        await asyncio.gather(*(fire(i) for i in range(count)))
    ms = [v * 1000 for v in latencies]
    return {
        "rate": rate,
        "sent": count,
        "errors": errors,
        "p50_ms": pct(ms, 0.5),
        "p99_ms": pct(ms, 0.99),
    }


async def closed_loop(target: Target, seconds: float, workers: int = 32) -> dict[str, Any]:
    done = errors = 0
    cpu_before = cpu_seconds(target.pid)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        stop = time.perf_counter() + seconds

        async def worker() -> None:
            nonlocal done, errors
            while time.perf_counter() < stop:
                try:
                    await one(session, target, target.body())
                    done += 1
                except Exception:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(workers)))
        elapsed = time.perf_counter() - started
    cpu = cpu_seconds(target.pid) - cpu_before
    return {
        "rps": done / elapsed,
        "errors": errors,
        "cpu_ms_per_request": cpu * 1000 / max(done, 1),
    }


async def streaming(target: Target, count: int = 50) -> dict[str, Any]:
    """Sequential streamed requests: time to the first content chunk, CPU per stream."""
    ttfts: list[float] = []
    cpu_before = cpu_seconds(target.pid)
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter()
            first = None
            async with session.post(
                target.url, json=target.body(stream=True), headers=target.headers
            ) as response:
                async for line in response.content:
                    if first is None and b'"content"' in line:
                        first = time.perf_counter() - started
            ttfts.append((first or float("nan")) * 1000)
    cpu = cpu_seconds(target.pid) - cpu_before
    return {
        "ttft_p50_ms": pct(ttfts, 0.5),
        "ttft_p99_ms": pct(ttfts, 0.99),
        "cpu_ms_per_stream": cpu * 1000 / count,
    }


async def settle(target: Target) -> None:
    """Wait until the target answers promptly again (a backlog from the last phase is gone)."""
    deadline = time.perf_counter() + 30
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        while time.perf_counter() < deadline:
            try:
                if await one(session, target, target.body()) < 0.1:
                    return
            except Exception:
                await asyncio.sleep(0.5)


async def measure(target: Target, rates: list[float], seconds: float) -> dict[str, Any]:
    for _ in range(20):  # warm-up: connections, JWKS, imports on first call
        async with aiohttp.ClientSession() as session:
            await one(session, target, target.body())
    result: dict[str, Any] = {"rss_idle_mb": rss_mb(target.pid)}
    result["open_loop"] = []
    for rate in rates:
        await settle(target)
        result["open_loop"].append(await open_loop(target, rate, seconds))
    await settle(target)
    result["closed_loop"] = await closed_loop(target, seconds)
    await settle(target)
    result["streaming"] = await streaming(target)
    result["rss_after_mb"] = rss_mb(target.pid)
    return result


async def sequential(target: Target, count: int = 2000, **extra: Any) -> dict[str, Any]:
    """One request at a time over one connection: latency without queueing."""
    latencies: list[float] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            latencies.append(await one(session, target, target.body(**extra)) * 1000)
    return {"count": count, "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99)}


async def cache_hits(target: Target, direct: Target) -> dict[str, Any]:
    """Our cache hits, and the same client against the provider itself as the floor."""
    return {
        **await sequential(target, temperature=0),
        "direct": await sequential(direct, temperature=0),
    }


def model_list(provider: str, fast: bool) -> list[dict[str, Any]]:
    params = {"model": "openai/fake", "api_base": provider, "api_key": "bench"}
    return [{"model_name": "bench", "litellm_params": params, "fast_path": fast}]


def start_all(work: Path, issuer: TestIssuer, jwks_url: str, processes: list[Any]) -> list[Target]:
    """Start every server, appending to ``processes`` as it goes (so a failure cleans up)."""
    port = free_port()
    provider = f"http://127.0.0.1:{port}/v1"
    processes.append(
        spawn(
            [sys.executable, "-m", "codelab_testing.fake_provider", "--port", str(port)],
            {},
            f"{provider}/models",
        )
    )
    targets = [Target("direct", f"{provider}/chat/completions", "fake", {}, processes[0].pid)]
    token = issuer.token(audience="codelab-llm-proxy", scope="llm:invoke", sub="bench")
    auth = {"Authorization": f"Bearer {token}"}
    for name, fast in (("ours-fast-path", True), ("ours-litellm-path", False)):
        config = work / f"{name}.yaml"
        config.write_text(yaml.safe_dump({"model_list": model_list(provider, fast)}))
        port = free_port()
        env = {
            "CODELAB_LLM_PROXY_CONFIG_PATH": str(config),
            "CODELAB_LLM_PROXY_JWKS_URL": jwks_url,
            "CODELAB_LLM_PROXY_ISSUER": issuer.issuer,
            "CODELAB_LLM_PROXY_LOG_LEVEL": "WARNING",
            "CODELAB_LLM_PROXY_REDIS_URL": "redis://127.0.0.1:6379/0",
            "CODELAB_LLM_PROXY_REDIS_PREFIX": f"bench:{os.getpid()}:{name}:",
            "CODELAB_LLM_PROXY_DATA_DIR": str(work / name),
        }
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "codelab_llm_proxy.app:create_app",
            "--factory",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        processes.append(spawn(args, env, f"http://127.0.0.1:{port}/healthz"))
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        targets.append(Target(name, url, "bench", auth, processes[-1].pid))
    if LITELLM_BIN.exists():
        config = work / "litellm.yaml"
        config.write_text(yaml.safe_dump({"model_list": model_list(provider, False)}))
        port = free_port()
        master = f"sk-bench-{os.urandom(16).hex()}"
        env = {
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            "LITELLM_LOG": "ERROR",
            "LITELLM_MASTER_KEY": master,
        }
        args = [
            str(LITELLM_BIN),
            "--config",
            str(config),
            "--port",
            str(port),
            "--num_workers",
            "1",
        ]
        processes.append(spawn(args, env, f"http://127.0.0.1:{port}/health/liveliness"))
        url = f"http://127.0.0.1:{port}/v1/chat/completions"
        headers = {"Authorization": f"Bearer {master}"}
        targets.append(Target("litellm-proxy", url, "bench", headers, processes[-1].pid))
    return targets


def markdown(results: dict[str, Any], rates: list[float]) -> str:
    direct = results["direct"]["open_loop"]
    head = ["target", "max rps", "CPU ms/req", "CPU ms/stream", "RSS idle/after MB", "TTFT p50"]
    head += [f"added p50/p99 ms @{r:g}/s" for r in rates]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, result in results.items():
        if name == "cache-hit":
            continue
        row = [
            name,
            f"{result['closed_loop']['rps']:.0f}",
            f"{result['closed_loop']['cpu_ms_per_request']:.2f}",
            f"{result['streaming']['cpu_ms_per_stream']:.2f}",
            f"{result['rss_idle_mb']:.0f}/{result['rss_after_mb']:.0f}",
            f"{result['streaming']['ttft_p50_ms']:.1f}",
        ]
        for base, point in zip(direct, result["open_loop"], strict=True):
            added50 = point["p50_ms"] - base["p50_ms"]
            added99 = point["p99_ms"] - base["p99_ms"]
            errors = f" ({point['errors']} err)" if point["errors"] else ""
            row.append(f"{added50:.1f}/{added99:.1f}{errors}")
        lines.append("| " + " | ".join(row) + " |")
    hit = results.get("cache-hit")
    if hit:
        lines.append(
            f"\nCache hit (our proxy, {hit['count']} sequential): p50 {hit['p50_ms']:.2f} ms, "
            f"p99 {hit['p99_ms']:.2f} ms; the same client straight to the fake provider: "
            f"p50 {hit['direct']['p50_ms']:.2f} ms, p99 {hit['direct']['p99_ms']:.2f} ms."
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--rates", default="10,30,100,300")
    parser.add_argument(
        "--only", default="", help="comma-separated target names (default: all; direct always)"
    )
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    issuer = TestIssuer()

    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(issuer.jwks())

    jwks_app = Starlette(routes=[Route("/.well-known/jwks.json", jwks)])
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, ServerThread(jwks_app, lifespan="off") as jw:
        processes: list[Any] = []
        try:
            targets = start_all(Path(tmp), issuer, f"{jw.url}/.well-known/jwks.json", processes)
            wanted = {"direct", *args.only.split(",")} if args.only else None
            for target in targets:
                if wanted is not None and target.name not in wanted:
                    continue
                print(f"[bench] {target.name} ...", file=sys.stderr, flush=True)
                results[target.name] = asyncio.run(measure(target, rates, args.seconds))
                if target.name == "ours-fast-path":
                    results["cache-hit"] = asyncio.run(cache_hits(target, targets[0]))
        finally:
            for process in processes:
                process.terminate()
                process.wait(timeout=20)
    RESULTS.mkdir(parents=True, exist_ok=True)
    meta = {
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "seconds": args.seconds,
        "litellm_proxy": LITELLM_BIN.exists(),
    }
    (RESULTS / "llm_proxy.json").write_text(json.dumps({"meta": meta, **results}, indent=2))
    table = markdown(results, rates)
    (RESULTS / "llm_proxy.md").write_text(
        "# llm-proxy benchmark\n\nGenerated by `bench/llm_proxy.py`; added latency is "
        "relative to direct-to-provider at the same rate, from the scheduled send time.\n\n" + table
    )
    print(table)
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
