"""Auth service throughput and gateway-side verification cost.

Starts ``codelab-auth serve`` (uvicorn, one process, SQLite in a temp dir, production
argon2 parameters) on a free loopback port, then measures for ``--seconds`` each with
``--concurrency`` clients:

* client_credentials: token requests per second and latency (argon2 secret check included);
* refresh_token: each client rotates its own refresh-token family in a chain;
* verification: ``codelab_common.jwt.JwtVerifier.verify`` in µs per token (warm JWKS
  cache), the cost a gateway or llm-proxy pays per request.

Writes bench/results/auth.json. Run: uv run python bench/auth.py [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from codelab_common.jwt import JwtVerifier

SECRET = "bench-runtime-secret-value"
ISSUER = "http://localhost:8080/auth"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> None:
    subprocess.run(
        ["codelab-auth", *args], env=env, input=stdin, text=True, check=True, capture_output=True
    )


def _summary(latencies: list[float], seconds: float) -> dict[str, float]:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "per_second": round(len(ordered) / seconds, 1),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
    }


async def _load(base: str, seconds: float, concurrency: int, kind: str) -> dict[str, float]:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as http:

        async def worker() -> None:
            refresh = None
            if kind == "refresh":
                first = await http.post(
                    "/oauth/token",
                    data={
                        "grant_type": "password",
                        "username": "bench",
                        "password": "bench-pw",
                        "client_id": "codelab-cli",
                    },
                )
                refresh = first.json()["refresh_token"]
            while time.perf_counter() < deadline:
                start = time.perf_counter()
                if kind == "refresh":
                    form = {
                        "grant_type": "refresh_token",
                        "refresh_token": refresh,
                        "client_id": "codelab-cli",
                    }
                    response = await http.post("/oauth/token", data=form)
                    refresh = response.json()["refresh_token"]
                else:
                    response = await http.post(
                        "/oauth/token",
                        data={"grant_type": "client_credentials"},
                        auth=("bench-runtime", SECRET),
                    )
                response.raise_for_status()
                latencies.append(time.perf_counter() - start)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return _summary(latencies, seconds)


async def _verification(base: str, tokens: int) -> dict[str, float]:
    async with httpx.AsyncClient(base_url=base) as http:
        response = await http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=("bench-runtime", SECRET),
        )
        token = response.json()["access_token"]
        verifier = JwtVerifier(
            jwks_url=f"{base}/.well-known/jwks.json",
            issuer=ISSUER,
            audience="codelab-llm-proxy",
            http=http,
        )
        await verifier.warm()
        for _ in range(100):  # warm-up
            await verifier.verify(token)
        start = time.perf_counter()
        for _ in range(tokens):
            await verifier.verify(token)
        elapsed = time.perf_counter() - start
    return {"tokens": tokens, "us_per_token": round(elapsed / tokens * 1e6, 1)}


async def _wait_ready(base: str) -> None:
    async with httpx.AsyncClient(base_url=base) as http:
        for _ in range(200):
            try:
                if (await http.get("/readyz")).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("auth did not become ready")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--verify-tokens", type=int, default=5000)
    args = parser.parse_args()
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "CODELAB_AUTH_DATABASE_URL": f"sqlite+aiosqlite:///{tmp}/auth.db",
            "CODELAB_AUTH_KEY_ENCRYPTION_SECRET": "bench-key-encryption-secret",
            "CODELAB_AUTH_PORT": str(port),
            "CODELAB_AUTH_LOG_LEVEL": "WARNING",
            "CODELAB_AUTH_LOGIN_ACCOUNT_THRESHOLD": "1000000",
            "CODELAB_AUTH_LOGIN_IP_THRESHOLD": "1000000",
        }
        _cli(
            env,
            "create-client",
            "bench-runtime",
            "--secret-stdin",
            "--scope",
            "llm:invoke",
            "--audience",
            "codelab-llm-proxy",
            "--grant",
            "client_credentials",
            stdin=SECRET,
        )
        _cli(env, "seed-demo")
        _cli(
            env, "create-user", "bench", "--role", "developer", "--password-stdin", stdin="bench-pw"
        )
        server = subprocess.Popen(["codelab-auth", "serve"], env=env)
        base = f"http://127.0.0.1:{port}"
        try:
            asyncio.run(_wait_ready(base))
            results: dict[str, Any] = {
                "machine": {"python": platform.python_version(), "cpus": os.cpu_count()},
                "settings": {
                    "seconds": args.seconds,
                    "concurrency": args.concurrency,
                    "argon2": "time_cost=3 memory=64MiB parallelism=4 (defaults)",
                    "database": "sqlite",
                    "workers": 1,
                },
                "client_credentials": asyncio.run(
                    _load(base, args.seconds, args.concurrency, "client_credentials")
                ),
                "refresh_token": asyncio.run(
                    _load(base, args.seconds, args.concurrency, "refresh")
                ),
                "verification": asyncio.run(_verification(base, args.verify_tokens)),
            }
        finally:
            server.terminate()
            server.wait(timeout=10)
    out = Path(__file__).parent / "results" / "auth.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    json.dump(results, sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
