"""What the gateway does with each client frame: answer it, relay it, or refuse it.

``initialize`` and ``authenticate`` are answered here (the connection is authenticated
by the upgrade). ``session/new`` and ``session/load`` touch the registry and the replay log
before they are relayed; every other message naming a ``sessionId`` is checked for scope
and ownership and relayed. Responses from the client go to the session whose agent asked.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Awaitable, Callable
from typing import Any

import acp
from acp.schema import AgentCapabilities, Implementation, InitializeResponse, PromptCapabilities

from codelab_common.errors import CodelabError
from codelab_common.protocol import (
    META_LAST_SEQ,
    META_NAMESPACE,
    JsonRpcErrorCode,
    error_from_exception,
    error_response,
    result_response,
)
from codelab_gateway.access import SCOPE_READ, SCOPE_WRITE, SessionAccess
from codelab_gateway.connection import AcpConnection
from codelab_gateway.errors import InvalidParams
from codelab_gateway.jsonrpc import (
    FrameError,
    Kind,
    Message,
    codelab_meta,
    kind_of,
    parse_frame,
    session_id_of,
    with_codelab_meta,
)
from codelab_gateway.streams import read_backlog

log = logging.getLogger(__name__)
Handler = Callable[[Message], Awaitable[None]]


def _params(message: Message) -> dict[str, Any]:
    params = message.get("params")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidParams("params must be an object")
    return params


def _last_seq(params: dict[str, Any]) -> int:
    value = codelab_meta(params).get(META_LAST_SEQ, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParams(f"_meta.{META_NAMESPACE}.{META_LAST_SEQ} must be an integer >= 0")
    return value


class AcpDispatcher:
    """Routes the frames of one connection; keeps no state of its own beyond the connection."""

    def __init__(
        self, connection: AcpConnection, access: SessionAccess, *, version: str, notice: str = ""
    ) -> None:
        self._conn = connection
        self._access = access
        self._version = version
        self._notice = notice
        self._own: dict[str, Handler] = {
            "initialize": self._initialize,
            "authenticate": self._authenticate,
            "session/new": self._session_new,
            "session/load": self._session_load,
        }

    async def handle_text(self, text: str) -> None:
        """Handle one text frame; errors become JSON-RPC errors, the socket stays open."""
        try:
            message = parse_frame(text)
        except FrameError as exc:
            await self._conn.send(error_response(None, exc.code, exc.message))
            return
        try:
            await self._route(message)
        except CodelabError as exc:
            await self._fail(message, error_from_exception(message.get("id"), exc))
        except Exception:
            log.exception("failed to handle %s", message.get("method", "a response"))
            internal = JsonRpcErrorCode.INTERNAL_ERROR
            await self._fail(message, error_response(message.get("id"), internal, "Internal error"))

    async def _fail(self, message: Message, error: Message) -> None:
        if kind_of(message) is Kind.REQUEST:
            await self._conn.send(error)
        else:  # notifications and responses cannot be answered
            log.warning("dropped %s: %s", message.get("method", "response"), error["error"])

    async def _route(self, message: Message) -> None:
        kind = kind_of(message)
        if kind is Kind.RESPONSE:
            await self._client_response(message)
            return
        method: str = message["method"]
        if (handler := self._own.get(method)) is not None:
            if kind is Kind.NOTIFICATION:
                log.warning("dropped %s sent as a notification", method)
                return
            await handler(message)
            return
        session_id = session_id_of(message)
        if session_id is not None:
            await self._forward(session_id, message)
        elif kind is Kind.REQUEST:
            await self._conn.send(
                error_response(
                    message["id"], JsonRpcErrorCode.METHOD_NOT_FOUND, f"Method not found: {method}"
                )
            )

    async def _initialize(self, message: Message) -> None:
        requested = _params(message).get("protocolVersion")
        version = acp.PROTOCOL_VERSION
        if isinstance(requested, int) and not isinstance(requested, bool) and requested >= 0:
            version = min(requested, acp.PROTOCOL_VERSION)
        response = InitializeResponse(
            protocol_version=version,
            agent_capabilities=AgentCapabilities(
                load_session=True,
                prompt_capabilities=PromptCapabilities(
                    image=False, audio=False, embedded_context=True
                ),
            ),
            agent_info=Implementation(name="codelab", version=self._version),
            auth_methods=[],
        )
        result = response.model_dump(mode="json", by_alias=True, exclude_none=True)
        # A reconnecting client can recognise its own earlier requests in _codelab/response.
        result = with_codelab_meta(result, connectionId=self._conn.id)
        if self._notice:  # e.g. "this deployment runs a toy model": clients show it
            result = with_codelab_meta(result, notice=self._notice)
        await self._conn.send(result_response(message["id"], result))

    async def _authenticate(self, message: Message) -> None:
        await self._conn.send(result_response(message["id"], {}))

    async def _session_new(self, message: Message) -> None:
        params = _params(message)
        cwd = params.get("cwd")
        if not isinstance(cwd, str) or not os.path.isabs(cwd):
            raise InvalidParams("cwd must be an absolute path")
        record = await self._access.create(self._conn.claims, cwd)
        params = with_codelab_meta(params, sessionId=record.session_id)
        # A new session's output stream is empty: relay it from the start.
        self._conn.attach(record.session_id, 0)
        await self._conn.post(record.session_id, {**message, "params": params})

    async def _session_load(self, message: Message) -> None:
        params = _params(message)
        session_id = session_id_of(message)
        if session_id is None:
            raise InvalidParams("sessionId is required")
        last_seq = _last_seq(params)
        await self._access.authorize(session_id, self._conn.claims, SCOPE_READ)
        await self._conn.detach(session_id)
        channel = self._conn.channel
        # A lastSeq from the future would make the live relay skip entries yet to come.
        after = min(last_seq, await channel.last_seq(session_id))
        for entry in await read_backlog(channel, session_id, after):
            await self._conn.deliver(session_id, entry, replay=True)
            after = entry.seq
        self._conn.attach(session_id, after)
        await self._conn.post(session_id, message)

    async def _forward(self, session_id: str, message: Message) -> None:
        await self._access.authorize(session_id, self._conn.claims, SCOPE_WRITE)
        if not self._conn.is_attached(session_id):
            self._conn.attach(session_id, await self._conn.channel.last_seq(session_id))
        await self._conn.post(session_id, message)

    async def _client_response(self, message: Message) -> None:
        session_id = self._conn.session_of_agent_request(message["id"])
        if session_id is None:
            log.warning("dropped a response to unknown agent request %r", message["id"])
            return
        await self._conn.post(session_id, message)
