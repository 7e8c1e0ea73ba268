"""One ``codelab chat`` turn: connect, open or load the session, prompt, stream, resume."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.metadata import version
from typing import Any

from acp import PROTOCOL_VERSION, RequestError, connect_to_agent, text_block
from acp.client.connection import ClientSideConnection
from acp.schema import ClientCapabilities, FileSystemCapabilities, Implementation, PromptResponse
from pydantic import SecretStr

from codelab_client.client import CodelabClient
from codelab_client.errors import AuthError, ConnectionFailed, ExitCode
from codelab_client.transport import WatchedTransport, open_transport
from codelab_common.protocol import META_LAST_SEQ, META_NAMESPACE, CloseCode, JsonRpcErrorCode

TokenProvider = Callable[[], Awaitable[SecretStr]]
RECONNECT_ATTEMPTS = 5
STOP_EXIT_CODES = {
    "end_turn": ExitCode.OK,
    "cancelled": ExitCode.CANCELLED,
    "refusal": ExitCode.REFUSED,
    "max_tokens": ExitCode.LIMIT,
    "max_turn_requests": ExitCode.LIMIT,
}
_AUTH_CLOSE_CODES = {int(CloseCode.UNAUTHORIZED), int(CloseCode.FORBIDDEN)}


@dataclass(frozen=True)
class ChatOptions:
    """What ``codelab chat`` was asked to do."""

    server: str
    prompt: str
    mode: str | None = None
    session_id: str | None = None


def server_notice(meta: dict[str, Any] | None) -> str | None:
    """The deployment's notice (``initialize`` ``_meta.codelab.notice``), if it sent one."""
    ours = meta.get(META_NAMESPACE) if isinstance(meta, dict) else None
    notice = ours.get("notice") if isinstance(ours, dict) else None
    return notice if isinstance(notice, str) and notice else None


class Chat:
    """Drives one prompt turn; if the socket drops, reconnects and resumes with ``lastSeq``."""

    def __init__(self, options: ChatOptions, client: CodelabClient, tokens: TokenProvider) -> None:
        self.options = options
        self.client = client
        self.tokens = tokens
        self.cwd = str(client.workspace.root)
        self.session_id: str | None = options.session_id
        self.conn: ClientSideConnection | None = None
        self.transport: WatchedTransport | None = None
        self._cancel_requested = False
        self._notice_shown = False
        self._cancel_task: asyncio.Future[None] | None = None

    async def connect(self) -> ClientSideConnection:
        if self.conn is not None:  # a reconnect: stop the dead connection's tasks
            with contextlib.suppress(Exception):
                await self.conn.close()
        last_seq = self.transport.last_seq if self.transport else None
        self.transport = await open_transport(self.options.server, await self.tokens(), last_seq)
        self.conn = connect_to_agent(self.client, self.transport)
        initialized = await self.conn.initialize(
            protocol_version=PROTOCOL_VERSION,
            client_capabilities=ClientCapabilities(
                fs=FileSystemCapabilities(read_text_file=True, write_text_file=True),
                terminal=True,
            ),
            client_info=Implementation(name="codelab-cli", version=version("codelab-client")),
        )
        notice = server_notice(initialized.field_meta)
        if notice and not self._notice_shown:
            self.client.renderer.info(f"notice: {notice}")
            self._notice_shown = True
        return self.conn

    async def open_session(self, conn: ClientSideConnection) -> str:
        renderer = self.client.renderer
        if self.session_id is None:
            created = await conn.new_session(cwd=self.cwd, mcp_servers=[])
            self.session_id, modes = created.session_id, created.modes
        else:
            # The replay of the earlier conversation would bury the new answer on stdout.
            self.client.muted = True
            try:
                loaded = await conn.load_session(cwd=self.cwd, session_id=self.session_id)
            finally:
                self.client.muted = False
            modes = loaded.modes if loaded else None
            hidden = self.client.hidden_updates
            renderer.info(f"loaded session history ({hidden} earlier updates not shown)")
        renderer.info(f"session: {self.session_id}")
        if modes is not None:
            renderer.mode_switch(modes.current_mode_id)
        if self.options.mode and self.options.mode != renderer.mode:
            await conn.set_session_mode(session_id=self.session_id, mode_id=self.options.mode)
            renderer.mode_switch(self.options.mode)
        return self.session_id

    async def run(self) -> ExitCode:
        """The whole turn; returns the process exit code."""
        renderer = self.client.renderer
        try:
            return await self._turn()
        except RequestError as exc:
            renderer.end_turn()
            renderer.info(f"codelab: the agent answered with error {exc.code}: {exc}")
            auth = exc.code == int(JsonRpcErrorCode.AUTH_REQUIRED)
            return ExitCode.AUTH if auth else ExitCode.ERROR
        except ConnectionError as exc:
            self._raise_if_auth_closed()
            code = self.transport.close_code if self.transport else None
            raise ConnectionFailed(f"the server closed the connection ({code})") from exc
        finally:
            await self.close()

    async def _turn(self) -> ExitCode:
        conn = await self.connect()
        session_id = await self.open_session(conn)
        try:
            response = await conn.prompt(
                session_id=session_id, prompt=[text_block(self.options.prompt)]
            )
        except ConnectionError:
            response = await self.resume(session_id)
        stop = response.stop_reason
        self.client.renderer.end_turn()
        self.client.renderer.info(f"[{stop}] continue with: --session {session_id}")
        return STOP_EXIT_CODES.get(stop, ExitCode.ERROR)

    async def resume(self, session_id: str) -> PromptResponse:
        """Reconnect and ``session/load`` with ``lastSeq`` until the turn's response arrives."""
        for attempt in range(RECONNECT_ATTEMPTS):
            self._raise_if_auth_closed()
            last_seq = self.transport.last_seq if self.transport else None
            self.client.renderer.info(f"connection lost; reconnecting (after seq {last_seq})")
            await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
            try:
                conn = await self.connect()
                # Becomes params._meta.codelab.lastSeq: replay only what came after it.
                meta: dict[str, Any] = {META_NAMESPACE: {META_LAST_SEQ: last_seq or 0}}
                await conn.load_session(cwd=self.cwd, session_id=session_id, **meta)
                if self._cancel_requested:
                    await conn.cancel(session_id=session_id)
                response = await self._late_prompt_response()
            except (ConnectionError, ConnectionFailed):
                continue
            if response is not None:
                return response
        raise ConnectionFailed("lost the connection to the server and could not resume the turn")

    async def _late_prompt_response(self) -> PromptResponse | None:
        """Wait for the prompt's ``_codelab/response``; None if this socket closes first."""
        assert self.transport is not None
        closed = asyncio.ensure_future(self.transport.closed.wait())
        try:
            while True:
                late = asyncio.ensure_future(self.client.late_responses.get())
                done, _ = await asyncio.wait({late, closed}, return_when=asyncio.FIRST_COMPLETED)
                if late not in done:
                    late.cancel()
                    return None
                response = _prompt_response(late.result())
                if response is not None:
                    return response
        finally:
            closed.cancel()

    def _raise_if_auth_closed(self) -> None:
        code = self.transport.close_code if self.transport else None
        if code in _AUTH_CLOSE_CODES:
            raise AuthError(f"the server closed the connection ({code}): run `codelab login`")

    def request_cancel(self) -> None:
        """First Ctrl-C: ``session/cancel`` and let the agent end the turn."""
        self._cancel_requested = True
        self.client.asker.cancelled.set()
        self.client.renderer.info("cancelling… (Ctrl-C again to quit)")
        if self.conn is not None and self.session_id is not None:
            self._cancel_task = asyncio.ensure_future(self._send_cancel(self.conn, self.session_id))

    @staticmethod
    async def _send_cancel(conn: ClientSideConnection, session_id: str) -> None:
        with contextlib.suppress(ConnectionError):
            await conn.cancel(session_id=session_id)

    async def close(self) -> None:
        await self.client.terminals.close()
        if self.conn is not None:
            with contextlib.suppress(Exception):
                await self.conn.close()


def _prompt_response(params: dict[str, Any]) -> PromptResponse | None:
    """The turn's result from a ``_codelab/response`` body (``{id, result | error}``)."""
    body = params.get("response", params)
    if not isinstance(body, dict):
        return None
    if isinstance(body.get("error"), dict):
        error = body["error"]
        raise RequestError(
            error.get("code", -32603), error.get("message", "error"), error.get("data")
        )
    result = body.get("result")
    if isinstance(result, dict) and "stopReason" in result:
        return PromptResponse.model_validate(result)
    return None


async def run_chat(chat: Chat) -> ExitCode:
    """Run ``chat`` with Ctrl-C wired to cancel (first press) and abort (second press)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(chat.run())
    presses = 0

    def on_sigint() -> None:
        nonlocal presses
        presses += 1
        if presses == 1:
            chat.request_cancel()
        else:
            task.cancel()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await task
    except asyncio.CancelledError:
        return ExitCode.CANCELLED
    finally:
        loop.remove_signal_handler(signal.SIGINT)
