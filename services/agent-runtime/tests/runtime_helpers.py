"""Test helpers: a runtime replica on a channel, and a client that plays the editor."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from codelab_common.eventbus import EventBus
from codelab_common.events import BaseEvent
from codelab_common.sessions import SessionChannel, SessionRecord
from codelab_runtime.agents.specs import AgentSpec, default_agents
from codelab_runtime.condense import Condenser
from codelab_runtime.model_window import ModelWindow
from codelab_runtime.persistence.store import SessionStore
from codelab_runtime.runtime_deps import Prices, RuntimeDeps
from codelab_runtime.subscribers import install_subscribers
from codelab_runtime.testing import ScriptedChatModel
from codelab_runtime.tools.client_ops import ToolLimits
from codelab_runtime.tools.policy import ApprovalPolicy
from codelab_runtime.worker import RuntimeSupervisor


@dataclass
class Replica:
    """One runtime replica with its own bus, model and supervisor."""

    supervisor: RuntimeSupervisor
    model: ScriptedChatModel
    bus: EventBus
    events: list[BaseEvent]
    registry: CollectorRegistry


def make_replica(
    channel: SessionChannel,
    store: SessionStore,
    instance_id: str,
    *,
    model: ScriptedChatModel | None = None,
    max_model_calls: int = 10,
    lease_ttl_ms: int = 3000,
    idle_release_s: float = 30.0,
    output_limit: int = 4000,
    command_timeout_s: float = 5.0,
    policy: ApprovalPolicy | None = None,
    context_window_tokens: int = 128_000,
    condenser: Condenser | None = None,
    agents: dict[str, AgentSpec] | None = None,
    max_tool_calls: int = 100,
    prices: Prices | None = None,
) -> Replica:
    bus = EventBus()
    registry = CollectorRegistry()
    install_subscribers(bus, store, registry)
    events: list[BaseEvent] = []
    bus.subscribe_all(events.append)
    model = model or ScriptedChatModel()
    deps = RuntimeDeps(
        model=model,
        bus=bus,
        store=store,
        agents=agents or default_agents(),
        limits=ToolLimits(command_timeout_s, output_limit),
        max_model_calls=max_model_calls,
        default_mode="orchestrator",
        policy=policy or ApprovalPolicy(),
        context_window=ModelWindow(context_window_tokens),
        condenser=condenser,
        max_tool_calls=max_tool_calls,
        prices=prices or Prices(),
    )
    supervisor = RuntimeSupervisor(
        channel,
        deps,
        instance_id,
        lease_ttl_ms=lease_ttl_ms,
        idle_release_s=idle_release_s,
        wakeup_block_ms=100,
        read_block_ms=100,
    )
    return Replica(supervisor, model, bus, events, registry)


@dataclass
class EditorClient:
    """Plays the ACP client: posts requests like the gateway and answers agent requests."""

    channel: SessionChannel
    session_id: str
    workspace: Path
    connection_id: str = "c1"
    permission: Callable[[dict[str, Any]], str] = lambda _req: "allow_once"
    answer_requests: bool = True
    followup: Callable[[dict[str, Any]], str] = lambda _req: "yes"
    after_seq: int = 0
    updates: list[dict[str, Any]] = field(default_factory=list)
    agent_requests: list[dict[str, Any]] = field(default_factory=list)
    responses: dict[str, dict[str, Any]] = field(default_factory=dict)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _terminals: dict[str, tuple[int, str]] = field(default_factory=dict)

    async def create(self) -> None:
        await self.channel.create_session(
            SessionRecord(
                session_id=self.session_id,
                owner="user-1",
                cwd=str(self.workspace),
                created_at=time.time(),
            )
        )

    async def post(self, message: dict[str, Any]) -> None:
        await self.channel.post_input(self.session_id, message, origin="test", sub="user-1")

    async def send(self, method: str, params: dict[str, Any]) -> str:
        request_id = f"{self.connection_id}:{next(self._ids)}"
        await self.post({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
        return request_id

    async def notify(self, method: str, params: dict[str, Any]) -> None:
        await self.post({"jsonrpc": "2.0", "method": method, "params": params})

    async def new_session(self) -> dict[str, Any]:
        rid = await self.send(
            "session/new",
            {
                "cwd": str(self.workspace),
                "mcpServers": [],
                "_meta": {"codelab": {"sessionId": self.session_id}},
            },
        )
        return await self.wait_response(rid)

    async def prompt(self, text: str, meta: dict[str, Any] | None = None) -> str:
        params: dict[str, Any] = {
            "sessionId": self.session_id,
            "prompt": [{"type": "text", "text": text}],
        }
        if meta is not None:
            params["_meta"] = meta
        return await self.send("session/prompt", params)

    async def pump(self, block_ms: int = 100) -> None:
        """Read new output once; answer what the agent asks."""
        for entry in await self.channel.read_output(
            self.session_id, self.after_seq, block_ms=block_ms
        ):
            self.after_seq = entry.seq
            await self._handle(entry.message)

    async def wait_response(self, request_id: str, within: float = 5.0) -> dict[str, Any]:
        deadline = asyncio.get_running_loop().time() + within
        while request_id not in self.responses:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"no response to {request_id}; updates={self.updates[-5:]}")
            await self.pump()
        return self.responses[request_id]

    async def wait_for(self, predicate: Callable[[], bool], within: float = 5.0) -> None:
        deadline = asyncio.get_running_loop().time() + within
        while not predicate():
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("condition not reached")
            await self.pump()

    async def _handle(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is None:
            self.responses[message["id"]] = message
        elif method == "session/update":
            self.updates.append(message["params"]["update"])
        elif "id" in message:
            self.agent_requests.append(message)
            if self.answer_requests:
                await self.answer(message)

    async def answer(self, request: dict[str, Any], result: Any = None) -> None:
        if result is None:
            result = self._result(request["method"], request["params"])
        await self.post({"jsonrpc": "2.0", "id": request["id"], "result": result})

    def _result(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "fs/read_text_file":
            lines = Path(params["path"]).read_text().splitlines(keepends=True)
            start = (params.get("line") or 1) - 1
            end = start + params["limit"] if params.get("limit") else None
            return {"content": "".join(lines[start:end])}
        if method == "_codelab/ask_followup":
            return {"answer": self.followup(params)}
        if method == "fs/write_text_file":
            Path(params["path"]).write_text(params["content"])
            return {}
        if method == "session/request_permission":
            option = self.permission(params)
            if option == "cancelled":
                return {"outcome": {"outcome": "cancelled"}}
            return {"outcome": {"outcome": "selected", "optionId": option}}
        if method == "terminal/create":
            done = subprocess.run(
                [params["command"], *params.get("args", [])],
                cwd=params.get("cwd"),
                capture_output=True,
                text=True,
                timeout=10,
                check=False,
            )
            terminal_id = f"term-{len(self._terminals) + 1}"
            self._terminals[terminal_id] = (done.returncode, done.stdout + done.stderr)
            return {"terminalId": terminal_id}
        if method == "terminal/wait_for_exit":
            return {"exitCode": self._terminals[params["terminalId"]][0]}
        if method == "terminal/output":
            code, output = self._terminals[params["terminalId"]]
            return {"output": output, "truncated": False, "exitStatus": {"exitCode": code}}
        if method in ("terminal/release", "terminal/kill"):
            return {}
        raise AssertionError(f"unexpected agent request {method}")

    def texts(self) -> list[str]:
        return [
            u["content"]["text"]
            for u in self.updates
            if u["sessionUpdate"] == "agent_message_chunk"
        ]

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        return [u for u in self.updates if u["sessionUpdate"] == kind]
