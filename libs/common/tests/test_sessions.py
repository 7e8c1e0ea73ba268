"""The session channel: same behaviour on Redis Streams and in memory."""

from __future__ import annotations

import asyncio
import time

import pytest

from codelab_common.sessions import (
    MemorySessionChannel,
    RedisSessionChannel,
    SessionChannel,
    SessionRecord,
)

from .conftest import RedisScope


@pytest.fixture(params=["redis", "memory"])
def channel(request: pytest.FixtureRequest, redis_scope: RedisScope) -> SessionChannel:
    if request.param == "memory":
        return MemorySessionChannel()
    return RedisSessionChannel(redis_scope.client, redis_scope.prefix)


def _record(session_id: str = "sess_1") -> SessionRecord:
    return SessionRecord(session_id=session_id, owner="alice", cwd="/w", created_at=time.time())


async def test_registry_round_trip(channel: SessionChannel) -> None:
    await channel.create_session(_record())
    found = await channel.get_session("sess_1")
    assert found is not None
    assert (found.owner, found.cwd) == ("alice", "/w")
    assert await channel.get_session("sess_unknown") is None


async def test_output_sequence_numbers_and_replay(channel: SessionChannel) -> None:
    await channel.create_session(_record())
    seqs = [await channel.append_output("sess_1", {"n": n}) for n in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert await channel.last_seq("sess_1") == 5
    missed = await channel.read_output("sess_1", after_seq=3)
    assert [(e.seq, e.message["n"]) for e in missed] == [(4, 3), (5, 4)]
    assert await channel.read_output("sess_1", after_seq=5) == []


async def test_blocking_read_wakes_on_append(channel: SessionChannel) -> None:
    await channel.create_session(_record())
    reader = asyncio.create_task(channel.read_output("sess_1", after_seq=0, block_ms=5000))
    await asyncio.sleep(0.05)
    await channel.append_output("sess_1", {"hello": True})
    rows = await asyncio.wait_for(reader, 2)
    assert [r.message for r in rows] == [{"hello": True}]


async def test_input_is_delivered_once_and_wakes_a_runtime(channel: SessionChannel) -> None:
    await channel.create_session(_record())
    await channel.post_input("sess_1", {"m": 1}, origin="conn-a", sub="alice")
    wakeups = await channel.next_wakeups("rt-1", block_ms=100)
    assert [w.session_id for w in wakeups] == ["sess_1"]
    first = await channel.read_input("sess_1", "rt-1", block_ms=100)
    assert [(e.message, e.origin, e.sub) for e in first] == [({"m": 1}, "conn-a", "alice")]
    assert await channel.read_input("sess_1", "rt-1", block_ms=10) == []


async def test_unacked_input_is_claimed_by_the_next_owner(channel: SessionChannel) -> None:
    await channel.create_session(_record())
    await channel.post_input("sess_1", {"m": 1}, origin="c", sub="alice")
    await channel.post_input("sess_1", {"m": 2}, origin="c", sub="alice")
    taken = await channel.read_input("sess_1", "rt-dead", block_ms=100)
    await channel.ack_input("sess_1", [taken[0].entry_id])
    claimed = await channel.claim_input("sess_1", "rt-new")
    assert [e.message for e in claimed] == [{"m": 2}]


async def test_lease_is_exclusive_and_owner_bound(channel: SessionChannel) -> None:
    assert await channel.acquire_lease("sess_1", "rt-1", 10_000)
    assert not await channel.acquire_lease("sess_1", "rt-2", 10_000)
    assert not await channel.renew_lease("sess_1", "rt-2", 10_000)
    await channel.release_lease("sess_1", "rt-2")  # not the owner: no effect
    assert await channel.lease_owner("sess_1") == "rt-1"
    assert await channel.renew_lease("sess_1", "rt-1", 10_000)
    await channel.release_lease("sess_1", "rt-1")
    assert await channel.acquire_lease("sess_1", "rt-2", 10_000)


async def test_lease_expires_and_the_session_is_orphaned(channel: SessionChannel) -> None:
    assert await channel.acquire_lease("sess_1", "rt-1", 50)
    assert await channel.acquire_lease("sess_2", "rt-1", 10_000)
    assert await channel.acquire_lease("sess_3", "rt-1", 10_000)
    await channel.release_lease("sess_3", "rt-1")
    assert await channel.orphaned_sessions() == []
    await asyncio.sleep(0.15)
    assert await channel.lease_owner("sess_1") is None
    assert await channel.orphaned_sessions() == ["sess_1"]
    assert await channel.acquire_lease("sess_1", "rt-2", 10_000)
    assert await channel.orphaned_sessions() == []


async def test_an_idle_session_leaves_redis_after_its_retention(redis_scope: RedisScope) -> None:
    client, prefix = redis_scope.client, redis_scope.prefix
    kept = RedisSessionChannel(client, prefix, retention_ms=0)
    await kept.create_session(_record("sess_kept"))
    await kept.append_output("sess_kept", {"n": 1})
    retained = RedisSessionChannel(client, prefix, retention_ms=300)
    await retained.create_session(_record("sess_idle"))
    await retained.post_input("sess_idle", {"n": 1}, origin="c", sub="alice")
    await retained.append_output("sess_idle", {"n": 2})
    parts = [retained.key("sess_idle", p) for p in ("seq", "out", "in")]
    ttls = [await client.pttl(k) for k in [retained.key("sess_idle"), *parts]]
    assert all(0 < ttl <= 300 for ttl in ttls), ttls
    # Activity gives the session its whole retention again.
    await asyncio.sleep(0.2)
    await retained.append_output("sess_idle", {"n": 3})
    assert await client.pttl(retained.key("sess_idle")) > 200
    await asyncio.sleep(0.4)
    assert await retained.get_session("sess_idle") is None
    assert [k async for k in client.scan_iter(f"{prefix}session:sess_idle*")] == []
    # Without a retention nothing expires.
    assert await client.pttl(kept.key("sess_kept")) == -1
    assert await kept.last_seq("sess_kept") == 1
