"""One ACP WebSocket connection: its state, its relays, and the way out to the client.

Everything about a connection lives on this object (no globals): which client requests are
outstanding, which agent requests it was shown, which sessions it is attached to. Shared
state (registry, streams) is in Redis, so any gateway replica can serve any session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid

from starlette.websockets import WebSocket

from codelab_common.jwt import AccessTokenClaims
from codelab_common.protocol import CloseCode
from codelab_common.sessions import OutputEntry, SessionChannel
from codelab_common.trace_context import relayed_with_trace_context
from codelab_gateway.jsonrpc import (
    JsonId,
    Kind,
    Message,
    id_key,
    kind_of,
    response_notification,
    rewrite_id,
    stamp_seq,
)
from codelab_gateway.metrics import TO_AGENT, TO_CLIENT, GatewayMetrics
from codelab_gateway.streams import tail_output

log = logging.getLogger(__name__)
TRANSPORT = "acp"


class AcpConnection:
    """The per-connection relay state between one client socket and its sessions."""

    def __init__(
        self,
        websocket: WebSocket,
        claims: AccessTokenClaims,
        *,
        channel: SessionChannel,
        metrics: GatewayMetrics,
        relay_block_ms: int,
    ) -> None:
        self.id = f"c_{uuid.uuid4().hex}"
        self.claims = claims
        self.channel = channel
        self._websocket = websocket
        self._metrics = metrics
        self._block_ms = relay_block_ms
        # rewritten id on the input stream -> the id the client used
        self._outstanding: dict[str, JsonId] = {}
        # id_key of an agent -> client request we relayed -> the session it came from
        self._agent_requests: dict[str, str] = {}
        self._relays: dict[str, tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._send_lock = asyncio.Lock()
        self._closed = asyncio.Event()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def is_attached(self, session_id: str) -> bool:
        return session_id in self._relays

    async def send(self, message: Message) -> None:
        """Send one JSON-RPC message as one text frame (relays and handler share the socket)."""
        if self.closed:
            return
        text = json.dumps(message, separators=(",", ":"))
        async with self._send_lock:
            try:
                await self._websocket.send_text(text)
            except Exception:  # the peer went away mid-send; the receive loop notices too
                self._closed.set()

    async def close(self, code: CloseCode, reason: str = "") -> None:
        """Close the socket once, whichever task decides it."""
        if self.closed:
            return
        self._closed.set()
        async with self._send_lock:
            with contextlib.suppress(Exception):
                await self._websocket.close(int(code), reason)

    async def wait_closed(self) -> None:
        await self._closed.wait()

    async def expire_at(self, exp: int) -> None:
        """Close with 4408 when the token that opened the connection expires."""
        await asyncio.sleep(max(0.0, exp - time.time()))
        await self.close(CloseCode.TOKEN_EXPIRED, "access token expired")

    async def post(self, session_id: str, message: Message) -> None:
        """Post a client message to a session's input, rewriting a request's id first."""
        if kind_of(message) is Kind.REQUEST:
            original: JsonId = message["id"]
            rewritten = rewrite_id(self.id, original)
            self._outstanding[rewritten] = original
            message = {**message, "id": rewritten}
        message = relayed_with_trace_context(message)
        try:
            await self.channel.post_input(session_id, message, origin=self.id, sub=self.claims.sub)
        except Exception:
            if isinstance(message.get("id"), str):
                self._outstanding.pop(message["id"], None)
            raise
        self._metrics.messages.labels(TRANSPORT, TO_AGENT).inc()

    def session_of_agent_request(self, request_id: JsonId) -> str | None:
        """The session an agent request came from, forgetting it (it is answered once)."""
        return self._agent_requests.pop(id_key(request_id), None)

    def attach(self, session_id: str, after_seq: int) -> None:
        """Start relaying the session's output after ``after_seq`` (no-op if attached)."""
        if session_id not in self._relays and not self.closed:
            stop = asyncio.Event()
            task = asyncio.create_task(
                self._relay(session_id, after_seq, stop), name=f"relay:{self.id}:{session_id}"
            )
            self._relays[session_id] = (task, stop)

    async def detach(self, session_id: str) -> None:
        """Stop relaying a session; returns once the relay has stopped (or will, see below)."""
        if (relay := self._relays.pop(session_id, None)) is None:
            return
        task, stop = relay
        stop.set()
        task.cancel()
        # A cancellation swallowed by the Redis client leaves the task running until its
        # current read ends; it sees ``stop`` then, so do not wait for it forever.
        await asyncio.wait([task], timeout=self._block_ms / 1000 + 1)

    async def detach_all(self) -> None:
        for session_id in list(self._relays):
            await self.detach(session_id)

    async def _relay(self, session_id: str, after_seq: int, stop: asyncio.Event) -> None:
        try:
            async for entry in tail_output(
                self.channel, session_id, after_seq, block_ms=self._block_ms, stop=stop
            ):
                await self.deliver(session_id, entry, replay=False)
        except asyncio.CancelledError:
            raise
        except Exception:
            if stop.is_set():  # a cancellation the Redis client turned into an error
                return
            # Without its relay the client would silently miss output; make it reconnect.
            log.exception("relay of session %s failed", session_id)
            await self.close(CloseCode.INTERNAL_ERROR, "relay failed")

    async def deliver(self, session_id: str, entry: OutputEntry, *, replay: bool) -> None:
        """Send one output entry to the client, stamped with its sequence number.

        A response to one of this connection's outstanding requests gets the client's own
        id back; any other response (an earlier connection's, another client's, an SSE
        request's) becomes a ``_codelab/response`` notification. Agent requests are not
        replayed: the runtime re-sends the ones still pending when it handles session/load.
        """
        message = entry.message
        kind = kind_of(message)
        if kind is Kind.RESPONSE:
            rid = message.get("id")
            if isinstance(rid, str) and rid in self._outstanding:
                out = stamp_seq({**message, "id": self._outstanding.pop(rid)}, entry.seq)
            else:
                out = response_notification(session_id, message, entry.seq)
        elif kind is Kind.REQUEST:
            if replay:
                return
            self._agent_requests[id_key(message["id"])] = session_id
            out = stamp_seq(message, entry.seq)
        else:
            out = stamp_seq(message, entry.seq)
        await self.send(out)
        self._metrics.messages.labels(TRANSPORT, TO_CLIENT).inc()
