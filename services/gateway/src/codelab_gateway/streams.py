"""Reading a session's output stream: the backlog after a sequence number, then live."""

from __future__ import annotations

from collections.abc import AsyncIterator

from codelab_common.sessions import OutputEntry, SessionChannel


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
    channel: SessionChannel, session_id: str, after_seq: int, *, block_ms: int
) -> AsyncIterator[OutputEntry]:
    """Entries after ``after_seq``, forever: blocking reads, each resuming where the last ended.

    A read that times out just loops, so a cancelled consumer is never stuck for longer
    than one ``block_ms`` in a read that nobody will use.
    """
    while True:
        for entry in await channel.read_output(session_id, after_seq, block_ms=block_ms):
            after_seq = entry.seq
            yield entry
