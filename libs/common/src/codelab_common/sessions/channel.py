"""Session channel: how gateway replicas and runtime replicas talk, over Redis Streams.

Per session there are two streams and a few keys (``P`` is the configured prefix):

* ``P session:{id}``          hash, the registry entry: owner (token ``sub``), cwd, created_at.
* ``P session:{id}:in``       stream, client -> agent JSON-RPC messages; consumer group ``runtime``.
* ``P session:{id}:out``      stream, agent -> client JSON-RPC messages. Entry id ``{seq}-0``,
                              so the sequence number *is* the stream id: replay after ``seq`` is
                              ``XRANGE (seq-0 +``, and a second writer cannot interleave silently.
* ``P session:{id}:seq``      counter behind the output sequence numbers.
* ``P session:{id}:lease``    which runtime replica owns the session (``SET NX PX``, renewed).
* ``P runtime:wakeups``       stream, group ``runtime``: "session X has input"; any runtime
                              replica may take it and try the lease.
* ``P runtime:leased``        set of sessions some replica took a lease on and has not released:
                              one whose lease key expired belongs to a replica that died, and
                              another replica takes it over (pending input included) unasked.

Delivery is at-least-once: a runtime acks input after handling it, and a replica that takes
over a session claims the entries its predecessor left pending.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from pydantic import BaseModel

RUNTIME_GROUP = "runtime"
WAKEUP_STREAM_MAXLEN = 100_000


class SessionRecord(BaseModel):
    """The registry entry of a session: who owns it and where its workspace is."""

    session_id: str
    owner: str
    cwd: str
    created_at: float


class InputEntry(BaseModel):
    """One client -> agent message, with where it came from."""

    entry_id: str
    message: dict[str, Any]
    origin: str
    sub: str


class OutputEntry(BaseModel):
    """One agent -> client message with its per-session sequence number."""

    seq: int
    message: dict[str, Any]


class Wakeup(BaseModel):
    """A note that a session has input; ack it once handled."""

    entry_id: str
    session_id: str


class SessionChannel(Protocol):
    """What gateway and runtime need from the transport between them."""

    async def create_session(self, record: SessionRecord) -> None: ...
    async def get_session(self, session_id: str) -> SessionRecord | None: ...

    # gateway side
    async def post_input(
        self, session_id: str, message: dict[str, Any], *, origin: str, sub: str
    ) -> str: ...
    async def read_output(
        self, session_id: str, after_seq: int, *, block_ms: int | None = None, count: int = 100
    ) -> list[OutputEntry]: ...
    async def last_seq(self, session_id: str) -> int: ...

    # runtime side
    async def append_output(self, session_id: str, message: dict[str, Any]) -> int: ...
    async def claim_input(self, session_id: str, consumer: str) -> list[InputEntry]: ...
    async def read_input(
        self, session_id: str, consumer: str, *, block_ms: int, count: int = 50
    ) -> list[InputEntry]: ...
    async def ack_input(self, session_id: str, entry_ids: Sequence[str]) -> None: ...
    async def next_wakeups(self, consumer: str, *, block_ms: int) -> list[Wakeup]: ...
    async def ack_wakeups(self, entry_ids: Sequence[str]) -> None: ...
    async def acquire_lease(self, session_id: str, owner: str, ttl_ms: int) -> bool: ...
    async def renew_lease(self, session_id: str, owner: str, ttl_ms: int) -> bool: ...
    async def release_lease(self, session_id: str, owner: str) -> None: ...
    async def lease_owner(self, session_id: str) -> str | None: ...
    async def orphaned_sessions(self) -> list[str]: ...


# Allocate the next sequence number and append under it, atomically.
