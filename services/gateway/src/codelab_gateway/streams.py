"""Reading a session's output stream: the backlog after a sequence number, then live."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from codelab_common.sessions import OutputEntry, SessionChannel

log = logging.getLogger(__name__)
REDIS_OUTAGE_TOLERANCE_S = 30.0


async def read_backlog(
    channel: SessionChannel, session_id: str, after_seq: int, *, page: int = 100
) -> list[OutputEntry]:
    """Every entry currently stored after ``after_seq`` (the replay log), without blocking."""
    entries: list[OutputEntry] = []
    while True:
        rows = await channel.read_output(session_id, after_seq, count=page)
        if not rows:
            return entries
        entries.extend(rows)
        after_seq = rows[-1].seq


async def tail_output(
    channel: SessionChannel,
    session_id: str,
    after_seq: int,
    *,
    block_ms: int,
    stop: asyncio.Event | None = None,
) -> AsyncIterator[OutputEntry]:
    """Entries after ``after_seq`` until ``stop`` is set: blocking reads, each resuming where
    the last ended.

    Why ``stop`` when tasks can be cancelled: redis-py's asyncio client sometimes swallows a
    cancellation that lands during a blocking read (it surfaces as a retry or a
    ``ConnectionError`` instead), so a cancelled tail could run on. With ``stop`` set the
    loop ends after at most one ``block_ms``, whatever happened to the cancellation.
    """
    failing_since: float | None = None
    while stop is None or not stop.is_set():
        try:
            rows = await channel.read_output(session_id, after_seq, block_ms=block_ms)
        except (RedisConnectionError, RedisTimeoutError):
            # Reading resumes from ``after_seq``, so a Redis blip loses nothing; give up
            # (and let the caller close the socket) only if Redis stays away.
            failing_since = failing_since or time.monotonic()
            if time.monotonic() - failing_since > REDIS_OUTAGE_TOLERANCE_S:
                raise
            log.warning("reading session %s output failed; retrying", session_id)
            await asyncio.sleep(0.5)
            continue
        failing_since = None
        for entry in rows:
            if stop is not None and stop.is_set():
                return
            after_seq = entry.seq
            yield entry


async def wait_for_response(
    channel: SessionChannel,
    session_id: str,
    request_id: str,
    after_seq: int,
    *,
    timeout_s: float,
    block_ms: int,
) -> dict[str, Any] | None:
    """The response with ``request_id`` appended after ``after_seq``, or None on timeout.

    The deadline is checked between short reads rather than by cancelling a read (see
    :func:`tail_output` for why cancellation is not to be relied on).
    """
    deadline = time.monotonic() + timeout_s
    while (remaining := deadline - time.monotonic()) > 0:
        wait_ms = max(1, min(block_ms, int(remaining * 1000)))
        for entry in await channel.read_output(session_id, after_seq, block_ms=wait_ms):
            after_seq = entry.seq
            message = entry.message
            if "method" not in message and message.get("id") == request_id:
                return message
    return None
