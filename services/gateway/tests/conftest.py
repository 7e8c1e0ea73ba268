"""Fixtures: a JWKS server, gateway apps on loopback ports, and a scripted runtime double.

The runtime double stands in for services/agent-runtime: it uses only the runtime side of
the session channel (wakeups, read_input, append_output), exactly as the real runtime does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any
from uuid import uuid4

import pytest
import redis.asyncio as aioredis
import uvicorn
import websockets
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp
from websockets.asyncio.client import ClientConnection

from codelab_common.sessions import InputEntry, RedisSessionChannel
from codelab_gateway.app import create_app
from codelab_gateway.settings import GatewaySettings
from codelab_testing.tokens import TestIssuer

REDIS_URL = "redis://127.0.0.1:6379/0"
MODES = {
    "currentModeId": "orchestrator",
    "availableModes": [{"id": "orchestrator", "name": "Orchestrator"}],
}


@contextlib.asynccontextmanager
async def serve(app: ASGIApp) -> AsyncIterator[str]:
    """Run ``app`` with uvicorn on a free loopback port; yield ``host:port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", timeout_graceful_shutdown=1, ws="websockets-sansio"
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


@pytest.fixture(scope="session")
def issuer() -> TestIssuer:
    return TestIssuer()  # session-wide: generating an RSA key is the slow part


@pytest.fixture
async def jwks_url(issuer: TestIssuer) -> AsyncIterator[str]:
    async def jwks(request: Request) -> JSONResponse:
        return JSONResponse(issuer.jwks())

    app = Starlette(routes=[Route("/.well-known/jwks.json", jwks)])
    async with serve(app) as address:
        yield f"http://{address}/.well-known/jwks.json"


@pytest.fixture
async def redis() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def prefix(redis: aioredis.Redis) -> AsyncIterator[str]:
    value = f"test:{uuid4().hex}:"
    yield value
    keys = [key async for key in redis.scan_iter(match=f"{value}*")]
    if keys:
        await redis.delete(*keys)


@pytest.fixture
def settings(prefix: str, jwks_url: str, issuer: TestIssuer) -> GatewaySettings:
    return GatewaySettings(
        redis_url=REDIS_URL,
        redis_prefix=prefix,
        jwks_url=jwks_url,
        issuer=issuer.issuer,
        log_json=False,
        log_level="WARNING",
        max_message_bytes=64 * 1024,
        session_create_timeout=2.0,
        relay_block_ms=500,
        sse_keepalive_seconds=1,
    )


@pytest.fixture
async def gateway(settings: GatewaySettings) -> AsyncIterator[str]:
    """``host:port`` of a running gateway."""
    async with serve(create_app(settings)) as address:
        yield address


@pytest.fixture
def channel(redis: aioredis.Redis, prefix: str) -> RedisSessionChannel:
    return RedisSessionChannel(redis, prefix)


class ScriptedRuntime:
    """A runtime double: answers session/new, session/load, session/set_mode and prompts.

    A prompt ``"read <path>"`` makes it ask the client ``fs/read_text_file`` first and
    finish the turn when the answer arrives; any other prompt is echoed and finished.
    """

    def __init__(self, channel: RedisSessionChannel) -> None:
        self.channel = channel
        self.inputs: list[tuple[str, InputEntry]] = []
        self._pending: dict[str, tuple[str, Any]] = {}  # agent request id -> (session, prompt id)
        self._counter = 0
        self._changed = asyncio.Event()
        self.stop = asyncio.Event()

    async def run(self) -> None:
        # Loops on a flag: redis-py may swallow a cancellation during a blocking read.
        while not self.stop.is_set():
            wakeups = await self.channel.next_wakeups("double", block_ms=100)
            await self.channel.ack_wakeups([w.entry_id for w in wakeups])
            for session_id in dict.fromkeys(w.session_id for w in wakeups):
                for entry in await self.channel.read_input(session_id, "double", block_ms=1):
                    self.inputs.append((session_id, entry))
                    await self._handle(session_id, entry.message)
                    await self.channel.ack_input(session_id, [entry.entry_id])
                    self._changed.set()

    async def wait_for(self, predicate: Callable[[], bool]) -> None:
        async with asyncio.timeout(5):
            while not predicate():
                self._changed.clear()
                await self._changed.wait()

    async def respond(self, session_id: str, request_id: Any, result: Any) -> int:
        return await self.channel.append_output(
            session_id, {"jsonrpc": "2.0", "id": request_id, "result": result}
        )

    async def say(self, session_id: str, text: str) -> int:
        update = {
            "sessionUpdate": "agent_message_chunk",
            "content": {"type": "text", "text": text},
        }
        message = {"sessionId": session_id, "update": update}
        return await self.channel.append_output(
            session_id, {"jsonrpc": "2.0", "method": "session/update", "params": message}
        )

    async def ask(self, session_id: str, method: str, params: dict[str, Any]) -> str:
        self._counter += 1
        request_id = f"rt:1:{self._counter}"
        message = {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
        await self.channel.append_output(session_id, message)
        return request_id

    async def _handle(self, session_id: str, message: dict[str, Any]) -> None:
        method, params = message.get("method"), message.get("params") or {}
        if method == "session/new":
            sid = params["_meta"]["codelab"]["sessionId"]
            await self.respond(session_id, message["id"], {"sessionId": sid, "modes": MODES})
        elif method == "session/load":
            await self.respond(session_id, message["id"], {"modes": MODES})
        elif method == "session/set_mode":
            await self.respond(session_id, message["id"], {})
        elif method == "session/prompt":
            text = params["prompt"][0]["text"]
            if text.startswith("read "):
                read = {"sessionId": session_id, "path": text[5:]}
                asked = await self.ask(session_id, "fs/read_text_file", read)
                self._pending[asked] = (session_id, message["id"])
            else:
                await self.say(session_id, f"echo: {text}")
                await self.respond(session_id, message["id"], {"stopReason": "end_turn"})
        elif method is None and message.get("id") in self._pending:
            owner, prompt_id = self._pending.pop(message["id"])
            await self.say(owner, f"file says: {message['result']['content']}")
            await self.respond(owner, prompt_id, {"stopReason": "end_turn"})


@pytest.fixture
async def runtime(channel: RedisSessionChannel) -> AsyncIterator[ScriptedRuntime]:
    double = ScriptedRuntime(channel)
    task = asyncio.create_task(double.run())
    yield double
    double.stop.set()
    await asyncio.wait([task], timeout=2)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class AcpClient:
    """A raw JSON-RPC-over-WebSocket client, so tests see exactly what is on the wire."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def recv(self) -> dict[str, Any]:
        frame = await asyncio.wait_for(self.ws.recv(), 5)
        message: dict[str, Any] = json.loads(frame)
        return message

    async def request(self, request_id: Any, method: str, params: dict[str, Any]) -> None:
        await self.send({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})

    async def until(self, predicate: Callable[[dict[str, Any]], bool]) -> list[dict[str, Any]]:
        """Every message up to and including the first that matches ``predicate``."""
        seen: list[dict[str, Any]] = []
        while True:
            seen.append(await self.recv())
            if predicate(seen[-1]):
                return seen

    async def response(self, request_id: Any) -> dict[str, Any]:
        messages = await self.until(lambda m: "method" not in m and m.get("id") == request_id)
        return messages[-1]


Connect = Callable[..., contextlib.AbstractAsyncContextManager[AcpClient]]


@pytest.fixture
def connect(issuer: TestIssuer) -> Connect:
    """``async with connect(address, sub=..., scope=...) as client``."""

    @contextlib.asynccontextmanager
    async def _connect(address: str, token: str | None = None, **claims: Any) -> Any:
        token = token or issuer.token(**claims)
        headers = {"Authorization": f"Bearer {token}"}
        async with websockets.connect(f"ws://{address}/acp", additional_headers=headers) as ws:
            yield AcpClient(ws)

    return _connect
