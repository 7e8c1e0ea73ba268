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

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from typing import Any, Protocol

import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.exceptions import ResponseError

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
_APPEND_OUTPUT = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], seq .. '-0', 'msg', ARGV[1])
return seq
"""
# Renew or release only a lease we hold.
_RENEW_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE_LEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def _decode(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _seq_of(entry_id: bytes | str) -> int:
    return int(_decode(entry_id).split("-", 1)[0])


class RedisSessionChannel:
    """The production :class:`SessionChannel`, on one shared ``redis.asyncio`` client."""

    def __init__(self, redis: aioredis.Redis, prefix: str = "codelab:") -> None:
        self._redis = redis
        self._prefix = prefix
        self._append = redis.register_script(_APPEND_OUTPUT)
        self._renew = redis.register_script(_RENEW_LEASE)
        self._release = redis.register_script(_RELEASE_LEASE)
        self._groups_ready: set[str] = set()

    def key(self, session_id: str, suffix: str = "") -> str:
        """The Redis key of a session's registry entry (or of one of its parts)."""
        base = f"{self._prefix}session:{session_id}"
        return f"{base}:{suffix}" if suffix else base

    @property
    def wakeup_stream(self) -> str:
        return f"{self._prefix}runtime:wakeups"

    async def _ensure_group(self, stream: str) -> None:
        if stream in self._groups_ready:
            return
        try:
            await self._redis.xgroup_create(stream, RUNTIME_GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._groups_ready.add(stream)

    async def create_session(self, record: SessionRecord) -> None:
        await self._redis.hset(
            self.key(record.session_id),
            mapping={
                "owner": record.owner,
                "cwd": record.cwd,
                "created_at": str(record.created_at),
            },
        )
        await self._ensure_group(self.key(record.session_id, "in"))

    async def get_session(self, session_id: str) -> SessionRecord | None:
        raw = await self._redis.hgetall(self.key(session_id))
        if not raw:
            return None
        data = {_decode(k): _decode(v) for k, v in raw.items()}
        return SessionRecord(
            session_id=session_id,
            owner=data["owner"],
            cwd=data["cwd"],
            created_at=float(data["created_at"]),
        )

    async def post_input(
        self, session_id: str, message: dict[str, Any], *, origin: str, sub: str
    ) -> str:
        stream = self.key(session_id, "in")
        await self._ensure_group(stream)
        entry_id = await self._redis.xadd(
            stream, {"msg": json.dumps(message), "origin": origin, "sub": sub}
        )
        await self._ensure_group(self.wakeup_stream)
        await self._redis.xadd(
            self.wakeup_stream,
            {"session": session_id},
            maxlen=WAKEUP_STREAM_MAXLEN,
            approximate=True,
        )
        return _decode(entry_id)

    async def read_output(
        self, session_id: str, after_seq: int, *, block_ms: int | None = None, count: int = 100
    ) -> list[OutputEntry]:
        stream = self.key(session_id, "out")
        rows: Any
        if block_ms is None:
            rows = await self._redis.xrange(stream, min=f"({after_seq}-0", count=count)
        else:
            # RESP2 shape: [[stream, [(id, fields), ...]]]
            result: Any = await self._redis.xread(
                {stream: f"{after_seq}-0"}, count=count, block=block_ms
            )
            rows = result[0][1] if result else []
        return [
            OutputEntry(seq=_seq_of(entry_id), message=json.loads(fields[b"msg"]))
            for entry_id, fields in rows
        ]

    async def last_seq(self, session_id: str) -> int:
        value = await self._redis.get(self.key(session_id, "seq"))
        return int(value) if value is not None else 0

    async def append_output(self, session_id: str, message: dict[str, Any]) -> int:
        seq = await self._append(
            keys=[self.key(session_id, "seq"), self.key(session_id, "out")],
            args=[json.dumps(message)],
        )
        return int(seq)

    def _input_entries(self, rows: list[Any]) -> list[InputEntry]:
        entries = []
        for entry_id, fields in rows:
            if fields is None:  # deleted while pending
                continue
            entries.append(
                InputEntry(
                    entry_id=_decode(entry_id),
                    message=json.loads(fields[b"msg"]),
                    origin=_decode(fields.get(b"origin", b"")),
                    sub=_decode(fields.get(b"sub", b"")),
                )
            )
        return entries

    async def claim_input(self, session_id: str, consumer: str) -> list[InputEntry]:
        """Take over every entry left pending by any consumer (the lease makes us the owner)."""
        stream = self.key(session_id, "in")
        await self._ensure_group(stream)
        claimed: list[InputEntry] = []
        cursor = "0-0"
        while True:
            result: Any = await self._redis.xautoclaim(
                stream, RUNTIME_GROUP, consumer, min_idle_time=0, start_id=cursor, count=100
            )
            cursor = _decode(result[0])
            claimed.extend(self._input_entries(result[1]))
            if cursor == "0-0":
                return claimed

    async def read_input(
        self, session_id: str, consumer: str, *, block_ms: int, count: int = 50
    ) -> list[InputEntry]:
        stream = self.key(session_id, "in")
        await self._ensure_group(stream)
        result: Any = await self._redis.xreadgroup(
            RUNTIME_GROUP, consumer, {stream: ">"}, count=count, block=block_ms
        )
        return self._input_entries(result[0][1]) if result else []

    async def ack_input(self, session_id: str, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self._redis.xack(self.key(session_id, "in"), RUNTIME_GROUP, *entry_ids)

    async def next_wakeups(self, consumer: str, *, block_ms: int) -> list[Wakeup]:
        await self._ensure_group(self.wakeup_stream)
        result: Any = await self._redis.xreadgroup(
            RUNTIME_GROUP, consumer, {self.wakeup_stream: ">"}, count=100, block=block_ms
        )
        if not result:
            return []
        return [
            Wakeup(entry_id=_decode(entry_id), session_id=_decode(fields[b"session"]))
            for entry_id, fields in result[0][1]
        ]

    async def ack_wakeups(self, entry_ids: Sequence[str]) -> None:
        if entry_ids:
            await self._redis.xack(self.wakeup_stream, RUNTIME_GROUP, *entry_ids)

    @property
    def leased_set(self) -> str:
        return f"{self._prefix}runtime:leased"

    async def acquire_lease(self, session_id: str, owner: str, ttl_ms: int) -> bool:
        taken = await self._redis.set(self.key(session_id, "lease"), owner, nx=True, px=ttl_ms)
        if taken:
            await self._redis.sadd(self.leased_set, session_id)
        return bool(taken)

    async def renew_lease(self, session_id: str, owner: str, ttl_ms: int) -> bool:
        return bool(await self._renew(keys=[self.key(session_id, "lease")], args=[owner, ttl_ms]))

    async def release_lease(self, session_id: str, owner: str) -> None:
        if await self._release(keys=[self.key(session_id, "lease")], args=[owner]):
            await self._redis.srem(self.leased_set, session_id)

    async def orphaned_sessions(self) -> list[str]:
        """Sessions whose owner vanished without releasing them (its lease expired)."""
        members = [_decode(m) for m in await self._redis.smembers(self.leased_set)]
        if not members:
            return []
        async with self._redis.pipeline(transaction=False) as pipe:
            for session_id in members:
                pipe.exists(self.key(session_id, "lease"))
            alive = await pipe.execute()
        return [sid for sid, exists in zip(members, alive, strict=True) if not exists]

    async def lease_owner(self, session_id: str) -> str | None:
        value = await self._redis.get(self.key(session_id, "lease"))
        return _decode(value) if value is not None else None


class _MemorySession:
    def __init__(self) -> None:
        self.inputs: list[InputEntry] = []
        self.delivered: dict[str, str] = {}  # entry id -> consumer, until acked
        self.next_input = 0
        self.outputs: list[OutputEntry] = []


class MemorySessionChannel:
    """An in-process :class:`SessionChannel` with the same semantics, for unit tests."""

    def __init__(self) -> None:
        self._records: dict[str, SessionRecord] = {}
        self._sessions: dict[str, _MemorySession] = {}
        self._wakeups: list[Wakeup] = []
        self._next_wakeup = 0
        self._leases: dict[str, tuple[str, float]] = {}
        self._counter = 0
        self._changed = asyncio.Event()

    def _session(self, session_id: str) -> _MemorySession:
        return self._sessions.setdefault(session_id, _MemorySession())

    async def _notify(self) -> None:
        # Swap in a fresh event so every waiter of the old one wakes exactly once.
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait(self, block_ms: int | None) -> None:
        # A plain Event (not a Condition) so that cancelling a blocked reader never
        # leaves a lock behind: Condition.wait re-acquires its lock even when cancelled.
        if not block_ms:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), block_ms / 1000)

    async def create_session(self, record: SessionRecord) -> None:
        self._records[record.session_id] = record
        self._session(record.session_id)

    async def get_session(self, session_id: str) -> SessionRecord | None:
        return self._records.get(session_id)

    async def post_input(
        self, session_id: str, message: dict[str, Any], *, origin: str, sub: str
    ) -> str:
        self._counter += 1
        entry_id = f"{self._counter}-0"
        self._session(session_id).inputs.append(
            InputEntry(entry_id=entry_id, message=message, origin=origin, sub=sub)
        )
        self._wakeups.append(Wakeup(entry_id=f"w{self._counter}", session_id=session_id))
        await self._notify()
        return entry_id

    async def read_output(
        self, session_id: str, after_seq: int, *, block_ms: int | None = None, count: int = 100
    ) -> list[OutputEntry]:
        def ready() -> list[OutputEntry]:
            return [e for e in self._session(session_id).outputs if e.seq > after_seq][:count]

        if not (rows := ready()):
            await self._wait(block_ms)
            rows = ready()
        return rows

    async def last_seq(self, session_id: str) -> int:
        outputs = self._session(session_id).outputs
        return outputs[-1].seq if outputs else 0

    async def append_output(self, session_id: str, message: dict[str, Any]) -> int:
        session = self._session(session_id)
        seq = len(session.outputs) + 1
        session.outputs.append(OutputEntry(seq=seq, message=message))
        await self._notify()
        return seq

    async def claim_input(self, session_id: str, consumer: str) -> list[InputEntry]:
        session = self._session(session_id)
        pending = [e for e in session.inputs if e.entry_id in session.delivered]
        for entry in pending:
            session.delivered[entry.entry_id] = consumer
        return pending

    async def read_input(
        self, session_id: str, consumer: str, *, block_ms: int, count: int = 50
    ) -> list[InputEntry]:
        session = self._session(session_id)
        if session.next_input >= len(session.inputs):
            await self._wait(block_ms)
        rows = session.inputs[session.next_input : session.next_input + count]
        session.next_input += len(rows)
        for entry in rows:
            session.delivered[entry.entry_id] = consumer
        return rows

    async def ack_input(self, session_id: str, entry_ids: Sequence[str]) -> None:
        session = self._session(session_id)
        for entry_id in entry_ids:
            session.delivered.pop(entry_id, None)

    async def next_wakeups(self, consumer: str, *, block_ms: int) -> list[Wakeup]:
        if self._next_wakeup >= len(self._wakeups):
            await self._wait(block_ms)
        rows = self._wakeups[self._next_wakeup :]
        self._next_wakeup += len(rows)
        return rows

    async def ack_wakeups(self, entry_ids: Sequence[str]) -> None:
        return None

    def _live_lease(self, session_id: str) -> str | None:
        held = self._leases.get(session_id)
        if held is None or held[1] < time.monotonic():
            return None
        return held[0]

    async def acquire_lease(self, session_id: str, owner: str, ttl_ms: int) -> bool:
        if self._live_lease(session_id) is not None:
            return False
        self._leases[session_id] = (owner, time.monotonic() + ttl_ms / 1000)
        return True

    async def renew_lease(self, session_id: str, owner: str, ttl_ms: int) -> bool:
        if self._live_lease(session_id) != owner:
            return False
        self._leases[session_id] = (owner, time.monotonic() + ttl_ms / 1000)
        return True

    async def release_lease(self, session_id: str, owner: str) -> None:
        if self._live_lease(session_id) == owner:
            del self._leases[session_id]

    async def orphaned_sessions(self) -> list[str]:
        return [sid for sid in self._leases if self._live_lease(sid) is None]

    async def lease_owner(self, session_id: str) -> str | None:
        return self._live_lease(session_id)
