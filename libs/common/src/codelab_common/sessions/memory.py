"""An in-process session channel with the Redis one's semantics, for unit tests."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

from codelab_common.sessions.channel import InputEntry, OutputEntry, SessionRecord, Wakeup


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
