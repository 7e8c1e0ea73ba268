"""An ACP ``Transport`` over a session's Redis streams, with the runtime's request ids.

``receive`` reads the session's input stream, ``send`` appends to its output stream.
Outgoing agent->client requests leave with ids ``"rt:{epoch}:{n}"`` (the SDK numbers
them 0, 1, 2...; the epoch is random per transport, so an answer meant for a previous
owner of the session can never be mistaken for one of ours). Answers come back mapped
to the SDK's ids; answers to ids we no longer wait for are dropped, so an answer given
twice is applied once.

Acknowledgement (at-least-once): a client request is acked when its response has been
written, so a replica that dies mid-turn leaves the ``session/prompt`` pending and the
next owner claims and re-runs it (the turn restarts from the stored history; see
``RuntimeAgent.prompt``). Notifications and answers are acked as soon as they are handed
to the connection: they are cheap, and re-applying a stale answer is impossible anyway.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from codelab_common.protocol import META_NAMESPACE
from codelab_common.sessions import InputEntry, SessionChannel

log = logging.getLogger(__name__)

# The input entry id travels to the handlers as `_meta.codelab.inputId`.
META_INPUT_ID = "inputId"


class SessionTransport:
    """One session's input/output streams as a message transport for ``AgentSideConnection``."""

    def __init__(
        self,
        channel: SessionChannel,
        session_id: str,
        consumer: str,
        *,
        idle_s: float,
        is_busy: Callable[[], bool],
        block_ms: int = 1000,
        initial: Iterable[InputEntry] = (),
    ) -> None:
        self._channel = channel
        self._session_id = session_id
        self._consumer = consumer
        self._idle_s = idle_s
        self._is_busy = is_busy
        self._block_ms = block_ms
        self._buffer: deque[InputEntry] = deque(initial)
        self.epoch = secrets.token_hex(4)
        self._sdk_ids: dict[str, Any] = {}  # our request id -> the SDK's
        self._outstanding: dict[str, dict[str, Any]] = {}  # our request id -> message as sent
        self._unanswered: dict[Any, str] = {}  # client request id -> input entry id
        self._closed = False
        self._last_input = time.monotonic()

    @property
    def outstanding(self) -> list[dict[str, Any]]:
        """Agent->client requests still waiting for an answer, in the order sent."""
        return list(self._outstanding.values())

    async def receive(self) -> dict[str, Any] | None:
        while not self._closed:
            if not self._buffer:
                if self._idle() and not self._is_busy():
                    return None
                entries = await self._channel.read_input(
                    self._session_id, self._consumer, block_ms=self._block_ms
                )
                if entries:
                    self._last_input = time.monotonic()
                    self._buffer.extend(entries)
                continue
            message = await self._accept(self._buffer.popleft())
            if message is not None:
                return message
        return None

    def _idle(self) -> bool:
        return time.monotonic() - self._last_input >= self._idle_s

    async def _accept(self, entry: InputEntry) -> dict[str, Any] | None:
        message = dict(entry.message)
        if "method" in message and message.get("id") is not None:
            self._unanswered[message["id"]] = entry.entry_id
            params = message.get("params")
            if isinstance(params, dict):
                meta = dict(params.get("_meta") or {})
                meta[META_NAMESPACE] = {
                    **meta.get(META_NAMESPACE, {}),
                    META_INPUT_ID: entry.entry_id,
                }
                message["params"] = {**params, "_meta": meta}
            return message
        await self._channel.ack_input(self._session_id, [entry.entry_id])
        if "method" in message:
            return message
        our_id = message.get("id")
        sdk_id = self._sdk_ids.pop(our_id, None) if isinstance(our_id, str) else None
        if sdk_id is None or not isinstance(our_id, str):
            log.info(
                "dropping an answer to a request we are not waiting for", extra={"rpc_id": our_id}
            )
            return None
        self._outstanding.pop(our_id, None)
        return {**message, "id": sdk_id}

    async def send(self, message: dict[str, Any]) -> None:
        if self._closed:
            # A stopped session (replica shutdown, lease lost) must not speak for it any
            # more: in particular, no error answer to the prompt the next owner will re-run.
            log.debug("dropping output of a stopped session", extra={"rpc_id": message.get("id")})
            return
        if "method" in message and message.get("id") is not None:
            sdk_id = message["id"]
            our_id = f"rt:{self.epoch}:{sdk_id}"
            message = {**message, "id": our_id}
            self._sdk_ids[our_id] = sdk_id
            self._outstanding[our_id] = message
            await self._channel.append_output(self._session_id, message)
            return
        await self._channel.append_output(self._session_id, message)
        if "method" not in message and (entry_id := self._unanswered.pop(message.get("id"), None)):
            await self._channel.ack_input(self._session_id, [entry_id])

    async def resend_outstanding(self) -> None:
        """Re-send every unanswered agent->client request (same ids) to a reconnected client."""
        for message in self.outstanding:
            await self._channel.append_output(self._session_id, message)

    def forget_outstanding(self) -> None:
        """Stop waiting for answers (the turn that asked is over); late answers are dropped."""
        self._outstanding.clear()
        self._sdk_ids.clear()

    def stop(self) -> None:
        """End ``receive`` (EOF) at the next read timeout."""
        self._closed = True

    async def close(self) -> None:
        self._closed = True
