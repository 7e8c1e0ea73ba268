"""A small CodeLab stand-in for the client tests: a scripted ACP agent served over a real
WebSocket by the SDK's ASGI app, behind a bearer check, plus a tiny OAuth token endpoint."""

from __future__ import annotations

import asyncio
import contextlib
import io
import secrets
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from acp import (
    PROTOCOL_VERSION,
    RequestError,
    plan_entry,
    start_tool_call,
    text_block,
    update_agent_message_text,
    update_agent_thought_text,
    update_plan,
    update_tool_call,
)
from acp.helpers import update_current_mode
from acp.http.asgi import create_asgi_app
from acp.schema import (
    AgentCapabilities,
    InitializeResponse,
    LoadSessionResponse,
    NewSessionResponse,
    PermissionOption,
    PromptResponse,
    SessionMode,
    SessionModeState,
    SetSessionModeResponse,
    ToolCallUpdate,
)
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codelab_client.chat import Chat, ChatOptions
from codelab_client.client import CodelabClient
from codelab_client.credentials import CredentialStore
from codelab_client.login import Terminal, TokenSource
from codelab_client.permissions import PermissionAsker
from codelab_client.render import Renderer
from codelab_client.workspace import Workspace
from codelab_common.dpop import DpopVerifier, InvalidDpopProof

USERNAME, PASSWORD = "dev", "s3cret-pw"
MODES = ["orchestrator", "coder", "architect", "debug", "ask"]


@dataclass
class MeshState:
    """What the fake servers know and saw."""

    access_tokens: set[str] = field(default_factory=set)
    refresh_tokens: set[str] = field(default_factory=set)
    spent_refresh_tokens: set[str] = field(default_factory=set)
    expires_in: int = 3600
    token_requests: list[dict[str, str]] = field(default_factory=list)
    # DPoP-bound access token -> key thumbprint; proofs checked by the common verifier.
    bound_tokens: dict[str, str] = field(default_factory=dict)
    dpop: DpopVerifier = field(default_factory=DpopVerifier)
    log: list[tuple[str, Any]] = field(default_factory=list)
    url: str = ""

    def reset(self) -> None:
        """Forget everything but the URL: one server serves every test."""
        url = self.url
        self.__init__()  # type: ignore[misc]
        self.url = url

    def issue(self, jkt: str | None = None) -> dict[str, Any]:
        access, refresh = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        self.access_tokens.add(access)
        self.refresh_tokens.add(refresh)
        if jkt is not None:
            self.bound_tokens[access] = jkt
        return {
            "access_token": access,
            "token_type": "DPoP" if jkt else "Bearer",
            "expires_in": self.expires_in,
            "refresh_token": refresh,
            "scope": "sessions:read sessions:write",
        }


def token_app(state: MeshState) -> Starlette:
    async def discovery(request: Request) -> JSONResponse:
        base = f"{state.url}/auth"
        return JSONResponse({"issuer": base, "token_endpoint": f"{base}/oauth/token"})

    async def token(request: Request) -> JSONResponse:
        form = {k: str(v) for k, v in (await request.form()).items()}
        state.token_requests.append(form)
        jkt = None
        if proof := request.headers.get("dpop"):
            try:
                jkt = state.dpop.verify(proof, method="POST", url=f"{state.url}/auth/oauth/token")
            except InvalidDpopProof:
                return JSONResponse({"error": "invalid_dpop_proof"}, status_code=400)
        if form.get("client_id") != "codelab-cli":
            return JSONResponse({"error": "invalid_client"}, status_code=401)
        grant = form.get("grant_type")
        if grant == "password":
            if (form.get("username"), form.get("password")) != (USERNAME, PASSWORD):
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            return JSONResponse(state.issue(jkt))
        if grant == "refresh_token":
            presented = form.get("refresh_token", "")
            if presented not in state.refresh_tokens:
                return JSONResponse({"error": "invalid_grant"}, status_code=400)
            state.refresh_tokens.discard(presented)  # rotation: single use
            state.spent_refresh_tokens.add(presented)
            return JSONResponse(state.issue(jkt))
        return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)

    return Starlette(
        routes=[
            Route("/auth/.well-known/openid-configuration", discovery),
            Route("/auth/oauth/token", token, methods=["POST"]),
        ]
    )


class ScriptedAgent:
    """An ACP agent whose behaviour is picked by the prompt's first word."""

    def __init__(self, conn: Any, state: MeshState) -> None:
        self.conn = conn
        self.state = state
        self.cancelled = asyncio.Event()

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        self.state.log.append(("initialize", kwargs.get("client_capabilities")))
        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(load_session=True),
        )

    def _modes(self, current: str) -> SessionModeState:
        return SessionModeState(
            current_mode_id=current,
            available_modes=[SessionMode(id=m, name=m.title()) for m in MODES],
        )

    async def new_session(self, cwd: str, **kwargs: Any) -> NewSessionResponse:
        self.state.log.append(("new_session", cwd))
        return NewSessionResponse(session_id="sess_test1", modes=self._modes("orchestrator"))

    async def load_session(self, cwd: str, session_id: str, **kwargs: Any) -> LoadSessionResponse:
        self.state.log.append(("load_session", session_id))
        await self.say(session_id, update_agent_message_text("old answer"))
        return LoadSessionResponse(modes=self._modes("coder"))

    async def set_session_mode(self, session_id: str, mode_id: str, **kwargs: Any) -> Any:
        self.state.log.append(("set_mode", mode_id))
        return SetSessionModeResponse()

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        self.state.log.append(("cancel", session_id))
        self.cancelled.set()

    async def say(self, session_id: str, update: Any) -> None:
        await self.conn.session_update(session_id=session_id, update=update)

    async def prompt(self, session_id: str, prompt: list[Any], **kwargs: Any) -> PromptResponse:
        words = prompt[0].text.split()
        self.state.log.append(("prompt", prompt[0].text))
        handler = getattr(self, f"script_{words[0]}")
        stop = await handler(session_id, *words[1:])
        return PromptResponse(stop_reason=stop)

    async def script_stream(self, sid: str) -> str:
        await self.say(sid, update_agent_thought_text("thinking about it"))
        await self.say(sid, update_plan([plan_entry("look", status="in_progress")]))
        await self.say(sid, update_agent_message_text("Hello"))
        await self.say(sid, update_agent_message_text(", world"))
        await self.say(sid, update_current_mode("debug"))
        await self.say(sid, start_tool_call("t1", "Run tests", kind="execute", status="pending"))
        await self.say(sid, update_tool_call("t1", status="completed"))
        await self.say(sid, update_agent_message_text("Done."))
        return "end_turn"

    async def _try(self, coro: Any) -> str:
        try:
            result = await coro
        except RequestError as exc:
            return f"error {exc.code}"
        return getattr(result, "content", "ok")

    async def script_read(self, sid: str, path: str) -> str:
        outcome = await self._try(self.conn.read_text_file(session_id=sid, path=path))
        await self.say(sid, update_agent_message_text(f"read: {outcome}"))
        return "end_turn"

    async def script_readlines(self, sid: str, path: str) -> str:
        call = self.conn.read_text_file(session_id=sid, path=path, line=2, limit=2)
        await self.say(sid, update_agent_message_text(f"read: {await self._try(call)}"))
        return "end_turn"

    async def script_write(self, sid: str, path: str) -> str:
        call = self.conn.write_text_file(session_id=sid, path=path, content="written by agent\n")
        await self.say(sid, update_agent_message_text(f"write: {await self._try(call)}"))
        return "end_turn"

    async def script_permission(self, sid: str) -> str:
        options = [
            PermissionOption(option_id="yes-once", name="Allow", kind="allow_once"),
            PermissionOption(option_id="yes-always", name="Always", kind="allow_always"),
            PermissionOption(option_id="no", name="Reject", kind="reject_once"),
        ]
        call = ToolCallUpdate(
            tool_call_id="p1",
            title="Delete build dir",
            kind="execute",
            raw_input={"command": "rm -rf build"},
        )
        answer = await self.conn.request_permission(session_id=sid, tool_call=call, options=options)
        outcome = answer.outcome
        chosen = getattr(outcome, "option_id", outcome.outcome)
        await self.say(sid, update_agent_message_text(f"permission: {chosen}"))
        return "end_turn"

    async def script_ask(self, sid: str) -> str:
        # Same call as the runtime's ask_followup_question tool.
        answer = await self.conn.ext_method(
            "codelab/ask_followup",
            {
                "sessionId": sid,
                "toolCallId": "call_1",
                "question": "Which database?",
                "suggestions": ["sqlite", "postgres"],
            },
        )
        await self.say(sid, update_agent_message_text(f"answer: {answer!r}"))
        return "end_turn"

    async def script_terminal(self, sid: str, limit: str, *command: str) -> str:
        created = await self.conn.create_terminal(
            session_id=sid,
            command="sh",
            args=["-c", " ".join(command)],
            output_byte_limit=int(limit),
        )
        tid = created.terminal_id
        exit_status = await self.conn.wait_for_terminal_exit(session_id=sid, terminal_id=tid)
        output = await self.conn.terminal_output(session_id=sid, terminal_id=tid)
        await self.conn.release_terminal(session_id=sid, terminal_id=tid)
        self.state.log.append(
            ("terminal", (output.output, output.truncated, exit_status.exit_code))
        )
        await self.say(sid, update_agent_message_text(f"exit {exit_status.exit_code}"))
        return "end_turn"

    async def script_badcwd(self, sid: str) -> str:
        call = self.conn.create_terminal(session_id=sid, command="pwd", cwd="/")
        await self.say(sid, update_agent_message_text(f"terminal: {await self._try(call)}"))
        return "end_turn"

    async def script_slow(self, sid: str) -> str:
        for _ in range(400):
            if self.cancelled.is_set():
                return "cancelled"
            await self.say(sid, update_agent_message_text("."))
            await asyncio.sleep(0.025)
        return "end_turn"

    async def script_refuse(self, sid: str) -> str:
        return "refusal"


def _authorized(state: MeshState, scheme: str, token: str, proof: str) -> bool:
    """Like the gateway: a bound token only with a proof for ``GET {url}/acp``."""
    if token not in state.access_tokens:
        return False
    jkt = state.bound_tokens.get(token)
    if jkt is None:
        return scheme == "Bearer"
    if scheme != "DPoP" or not proof:
        return False
    try:
        proven = state.dpop.verify(proof, method="GET", url=f"{state.url}/acp", access_token=token)
    except InvalidDpopProof:
        return False
    state.log.append(("dpop", jkt))
    return proven == jkt


def mesh_app(state: MeshState) -> Any:
    """``/auth/*`` → token app; ``/acp`` WebSocket → bearer check → SDK agent."""
    tokens = token_app(state)
    acp_app = create_asgi_app(lambda conn: ScriptedAgent(conn, state))

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "websocket":
            headers = dict(scope["headers"])
            scheme, _, bearer = headers.get(b"authorization", b"").decode().partition(" ")
            if not _authorized(state, scheme, bearer, headers.get(b"dpop", b"").decode()):
                await receive()
                await send({"type": "websocket.accept"})
                await send({"type": "websocket.close", "code": 4401, "reason": "bad token"})
                return
            await acp_app(scope, receive, send)
        elif scope["type"] == "http":
            await tokens(scope, receive, send)

    return app


@contextlib.asynccontextmanager
async def serve(app: Any) -> AsyncIterator[str]:
    """Run ``app`` under uvicorn on a free loopback port; yields ``http://127.0.0.1:PORT``."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn exposes a flag, not an event
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
def serve_app() -> Any:
    """:func:`serve`, for tests that bring their own ASGI app."""
    return serve


@pytest.fixture(scope="session")
def mesh_server() -> Iterator[MeshState]:
    """The fake mesh on a free port, in its own thread, once per test session.

    Starting and stopping uvicorn costs ~0.2 s; per test that was a third of the suite.
    """
    state = MeshState()
    config = uvicorn.Config(
        mesh_app(state), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="mesh", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "mesh did not start"
        time.sleep(0.01)
    state.url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    yield state
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def mesh(mesh_server: MeshState) -> MeshState:
    mesh_server.reset()
    return mesh_server


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    (root / "notes.txt").write_text("one\ntwo\nthree\nfour\n")
    (tmp_path / "secret.txt").write_text("outside secret\n")
    return root


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return tmp_path / "config"


@dataclass
class ChatResult:
    code: int
    out: str
    err: str


@pytest.fixture
def run_chat(mesh: MeshState, workspace: Path, config_dir: Path) -> Any:
    """Runs one chat turn in-process against the mesh; logs in with the test user on first use."""

    async def run(
        prompt: str,
        *,
        yes: bool = False,
        interactive: bool = False,
        stdin: str = "",
        combined: bool = False,
        mode: str | None = None,
        session: str | None = None,
    ) -> ChatResult:
        out = io.StringIO()
        err = out if combined else io.StringIO()
        renderer = Renderer(out, err)
        asker = PermissionAsker(
            renderer, io.StringIO(stdin), interactive=interactive, assume_yes=yes
        )
        term = Terminal(io.StringIO(""), err, interactive=False)
        async with httpx.AsyncClient() as http:
            tokens = TokenSource(
                CredentialStore(config_dir), http, mesh.url, term, USERNAME, SecretStr(PASSWORD)
            )
            client = CodelabClient(Workspace(workspace), renderer, asker)
            chat = Chat(ChatOptions(mesh.url, prompt, mode, session), client, tokens)
            code = await chat.run()
        return ChatResult(int(code), out.getvalue(), err.getvalue())

    return run


__all__ = ["PASSWORD", "USERNAME", "MeshState", "serve", "text_block"]
