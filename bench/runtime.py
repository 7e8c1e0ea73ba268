"""Orchestration overhead of the agent runtime, with a zero-latency in-process model.

One runtime replica (supervisor, loop, tools, event bus, SQLite persistence) serves
sessions over an in-memory session channel; a minimal editor double in the same process
answers its file reads. The model answers instantly, so what is measured is CodeLab's
own cost:

* model call overhead: a turn of one model call (prompt in -> response out), ms p50/p99;
* tool round-trip: from ``tool.requested`` to the tool result being recorded (policy,
  the ``fs/read_text_file`` request through the channel, the client's answer, the
  durable write), ms p50/p99;
* turns per second per replica, with several sessions prompting concurrently.

Prints a table and writes bench/results/runtime.json.

Run: uv run python bench/runtime.py [--turns 200] [--sessions 8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from codelab_common import events as ev
from codelab_common.eventbus import EventBus
from codelab_common.sessions import MemorySessionChannel, SessionRecord
from codelab_runtime.agents.specs import default_agents
from codelab_runtime.model.base import ChatRequest, Finish, ModelEvent, TextDelta, ToolCallDelta
from codelab_runtime.persistence.store import SessionStore, create_engine, migrate
from codelab_runtime.runtime_deps import RuntimeDeps
from codelab_runtime.subscribers import install_subscribers
from codelab_runtime.tools.client_ops import ToolLimits
from codelab_runtime.worker import RuntimeSupervisor

RESULTS = Path(__file__).resolve().parent / "results"


class InstantModel:
    """Answers at once: a read_file call when the prompt asks for a tool, else text."""

    name = "instant"

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        last = request.messages[-1]
        if last["role"] == "user" and "tool" in str(last["content"]):
            yield ToolCallDelta(0, f"call_{uuid.uuid4().hex[:8]}", "read_file", '{"path": "a.txt"}')
            yield Finish("tool_calls")
            return
        yield TextDelta("ok")
        yield Finish("stop")


class Editor:
    """The client side of one session: posts prompts, answers file reads, collects responses."""

    def __init__(self, channel: MemorySessionChannel, session_id: str, cwd: str) -> None:
        self.channel, self.session_id, self.cwd = channel, session_id, cwd
        self.seq = 0
        self.n = 0
        self.responses: dict[str, dict[str, Any]] = {}

    async def request(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        self.n += 1
        rid = f"c:{self.n}"
        message = {"jsonrpc": "2.0", "id": rid, "method": method, "params": params}
        await self.channel.post_input(self.session_id, message, origin="bench", sub="u")
        while rid not in self.responses:
            for entry in await self.channel.read_output(self.session_id, self.seq, block_ms=50):
                self.seq = entry.seq
                await self._handle(entry.message)
        return self.responses.pop(rid)

    async def _handle(self, message: dict[str, Any]) -> None:
        if "method" not in message:
            self.responses[message["id"]] = message
        elif message["method"] == "fs/read_text_file":
            answer = {"jsonrpc": "2.0", "id": message["id"], "result": {"content": "hello\n"}}
            await self.channel.post_input(self.session_id, answer, origin="bench", sub="u")

    async def prompt(self, text: str) -> None:
        params = {"sessionId": self.session_id, "prompt": [{"type": "text", "text": text}]}
        await self.request("session/prompt", params)


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return {"p50": round(statistics.median(ordered), 3), "p99": round(p99, 3), "n": len(ordered)}


async def _session(channel: MemorySessionChannel, cwd: str) -> Editor:
    editor = Editor(channel, f"sess_{uuid.uuid4().hex}", cwd)
    record = SessionRecord(session_id=editor.session_id, owner="u", cwd=cwd, created_at=time.time())
    await channel.create_session(record)
    params = {"cwd": cwd, "mcpServers": [], "_meta": {"codelab": {"sessionId": editor.session_id}}}
    await editor.request("session/new", params)
    return editor


async def run(turns: int, sessions: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(f"sqlite+aiosqlite:///{tmp}/bench.db")
        await migrate(engine)
        bus = EventBus()
        install_subscribers(bus, SessionStore(engine), None)
        requested: dict[str, float] = {}
        tool_ms: list[float] = []

        def on_requested(event: ev.ToolRequested) -> None:
            requested[event.tool_call_id] = time.perf_counter()

        def on_tool_message(event: ev.ToolMessage) -> None:
            if (start := requested.pop(event.tool_call_id, None)) is not None:
                tool_ms.append((time.perf_counter() - start) * 1000)

        bus.subscribe(ev.ToolRequested, on_requested)
        bus.subscribe(ev.ToolMessage, on_tool_message)
        deps = RuntimeDeps(
            model=InstantModel(),
            bus=bus,
            store=SessionStore(engine),
            agents=default_agents(),
            limits=ToolLimits(10.0, 64_000),
            max_model_calls=5,
            default_mode="ask",
        )
        channel = MemorySessionChannel()
        supervisor = RuntimeSupervisor(
            channel, deps, "rt-bench", wakeup_block_ms=20, read_block_ms=20
        )
        supervisor.start()
        try:
            editor = await _session(channel, tmp)
            await editor.prompt("warm up")
            call_ms = []
            for _ in range(turns):
                started = time.perf_counter()
                await editor.prompt("hi")
                call_ms.append((time.perf_counter() - started) * 1000)
            for _ in range(turns):
                await editor.prompt("use a tool")
            editors = [await _session(channel, tmp) for _ in range(sessions)]
            per_session = max(1, turns // sessions)
            started = time.perf_counter()

            async def drive(e: Editor) -> None:
                for _ in range(per_session):
                    await e.prompt("hi")

            await asyncio.gather(*(drive(e) for e in editors))
            elapsed = time.perf_counter() - started
        finally:
            await supervisor.stop()
            await engine.dispose()
    return {
        "model_call_overhead_ms": _ms(call_ms),
        "tool_round_trip_ms": _ms(tool_ms),
        "turns_per_second_per_replica": round(sessions * per_session / elapsed, 1),
        "concurrent_sessions": sessions,
        "persistence": "sqlite (aiosqlite)",
        "channel": "MemorySessionChannel",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument("--sessions", type=int, default=8)
    options = parser.parse_args()
    result = asyncio.run(run(options.turns, options.sessions))
    for key in ("model_call_overhead_ms", "tool_round_trip_ms"):
        print(f"{key:28} p50 {result[key]['p50']:8.2f}  p99 {result[key]['p99']:8.2f}")
    print(f"{'turns/s per replica':28} {result['turns_per_second_per_replica']}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "runtime.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
