"""The production session channel: Redis Streams, Lua for the two atomic steps."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ResponseError

from codelab_common.sessions.channel import (
    RUNTIME_GROUP,
    WAKEUP_STREAM_MAXLEN,
    InputEntry,
    OutputEntry,
    SessionRecord,
    Wakeup,
)

# KEYS: every key of the session, seq and out first; with a retention, each lives on.
_APPEND_OUTPUT = """
local seq = redis.call('INCR', KEYS[1])
redis.call('XADD', KEYS[2], seq .. '-0', 'msg', ARGV[1])
local retention = tonumber(ARGV[2])
if retention > 0 then
  for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], retention) end
end
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

    def __init__(
        self, redis: aioredis.Redis, prefix: str = "codelab:", *, retention_ms: int = 0
    ) -> None:
        self._redis = redis
        self._prefix = prefix
        # > 0: every input or output gives the session's keys this long to live again.
        self._retention_ms = retention_ms
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

    def _session_keys(self, session_id: str) -> list[str]:
        """seq, out, the registry entry, in: what one session keeps in Redis."""
        return [
            self.key(session_id, "seq"),
            self.key(session_id, "out"),
            self.key(session_id),
            self.key(session_id, "in"),
        ]

    async def _extend(self, session_id: str) -> None:
        if self._retention_ms:
            pipe = self._redis.pipeline(transaction=False)
            for key in self._session_keys(session_id):
                pipe.pexpire(key, self._retention_ms)
            await pipe.execute()

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
        await self._extend(record.session_id)

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
        await self._extend(session_id)
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
            keys=self._session_keys(session_id),
            args=[json.dumps(message), self._retention_ms],
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
