"""How much the mesh adds on top of the model: time to first token and to the end of a turn.

Boots the real mesh (as the e2e suite does: nginx, 2 gateways, 2 runtimes, llm-proxy, auth,
PostgreSQL, Redis, the fake OpenAI provider), then for the same scripted reply measures:

* baseline: a streaming chat completion straight from the fake provider (no CodeLab at all);
* mesh: an ACP prompt over the WebSocket through nginx -> gateway -> Redis -> runtime ->
  llm-proxy (litellm) -> provider and back, as an editor sees it.

Both are measured in the same run, so the ratio is meaningful on a noisy machine.
Prints a table and writes bench/results/relay_latency.json.

Run: uv run python bench/relay_latency.py [--turns 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from acp.schema import AgentMessageChunk

from codelab_testing.acp_driver import acp_connection
from codelab_testing.fake_provider_models import Reply
from codelab_testing.mesh_fixture import RunningMesh, boot_mesh

REPLY_TEXT = "The quick brown fox jumps over the lazy dog. " * 4
RESULTS = Path(__file__).resolve().parent / "results"


def _has_text(line: str) -> bool:
    if not line.startswith("data: ") or line == "data: [DONE]":
        return False
    choices = json.loads(line.removeprefix("data: ")).get("choices") or [{}]
    return bool(choices[0].get("delta", {}).get("content"))


async def _baseline_turn(
    http: httpx.AsyncClient, provider_url: str, script: str
) -> tuple[float, float]:
    body = {
        "model": "fake",
        "stream": True,
        "messages": [{"role": "user", "content": f"hi [[script:{script}]]"}],
    }
    started = time.perf_counter()
    first: float | None = None
    async with http.stream("POST", f"{provider_url}/v1/chat/completions", json=body) as response:
        async for line in response.aiter_lines():
            if first is None and _has_text(line):
                first = time.perf_counter() - started
    if first is None:
        raise RuntimeError("the provider sent no text")
    return first, time.perf_counter() - started


async def _mesh_turn(
    mesh: RunningMesh, token: str, workspace: Path, script: str
) -> tuple[float, float]:
    async with acp_connection(mesh.ws_url, token, workspace) as acp:
        await acp.new(workspace)
        started = time.perf_counter()
        turn = asyncio.create_task(acp.prompt(f"hi [[script:{script}]]"))
        await acp.client.wait_for(
            lambda: any(isinstance(u, AgentMessageChunk) for u in acp.client.updates)
        )
        first = time.perf_counter() - started
        response = await turn
        total = time.perf_counter() - started
    if response.stop_reason != "end_turn" or acp.client.text() != REPLY_TEXT:
        raise RuntimeError(f"turn went wrong: {response.stop_reason}")
    return first, total


def _summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 1),
        "p90_ms": round(ordered[int(0.9 * (len(ordered) - 1))] * 1000, 1),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 1),
    }


async def measure(mesh: RunningMesh, turns: int) -> dict[str, Any]:
    token = mesh.token("demo", "demo")
    reply = Reply.text(REPLY_TEXT, chunk_chars=8, delay_per_chunk=0.0)
    base_first, base_total, mesh_first, mesh_total = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        http = httpx.AsyncClient(timeout=30)  # pooled, like the mesh's own clients
        for i in range(turns + 2):  # two warm-up turns are not counted
            base, through = f"bench-b-{uuid.uuid4().hex[:6]}", f"bench-m-{uuid.uuid4().hex[:6]}"
            mesh.set_script(base, [reply])
            mesh.set_script(through, [reply])
            b = await _baseline_turn(http, mesh.provider_url, base)
            m = await _mesh_turn(mesh, token, Path(tmp), through)
            if i >= 2:
                base_first.append(b[0])
                base_total.append(b[1])
                mesh_first.append(m[0])
                mesh_total.append(m[1])
        await http.aclose()
    result = {
        "turns": turns,
        "reply_chars": len(REPLY_TEXT),
        "baseline_provider": {"first_token": _summary(base_first), "total": _summary(base_total)},
        "mesh_acp": {"first_token": _summary(mesh_first), "total": _summary(mesh_total)},
    }
    result["mesh_overhead_ms_p50"] = {
        "first_token": round(
            result["mesh_acp"]["first_token"]["p50_ms"]
            - result["baseline_provider"]["first_token"]["p50_ms"],
            1,
        ),
        "total": round(
            result["mesh_acp"]["total"]["p50_ms"] - result["baseline_provider"]["total"]["p50_ms"],
            1,
        ),
    }
    result["ratio_mesh_to_baseline_p50"] = {
        kind: round(
            result["mesh_acp"][kind]["p50_ms"]
            / max(result["baseline_provider"][kind]["p50_ms"], 0.1),
            1,
        )
        for kind in ("first_token", "total")
    }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        boot = boot_mesh(Path(tmp))
        booted = time.perf_counter()
        mesh = next(boot)
        boot_s = time.perf_counter() - booted
        try:
            result = asyncio.run(measure(mesh, args.turns))
        finally:
            boot.close()
    result["mesh_boot_s"] = round(boot_s, 1)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "relay_latency.json").write_text(json.dumps(result, indent=2))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
