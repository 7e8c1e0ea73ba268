"""Streams as SSE frames: what both provider paths hand the relay, and the cache replays.

A :class:`Frame` keeps the bytes to send as they are; only what accounting needs (the
usage object, whether the chunk carries choices) is read from it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from codelab_common.protocol import USAGE_COST_FIELD

DONE = b"data: [DONE]\n\n"
_NULL_USAGE = (b'"usage":null', b'"usage": null')
_EMPTY_CHOICES = (b'"choices":[]', b'"choices": []')


@dataclass(slots=True)
class Frame:
    """One SSE event, framed (``data: ...\\n\\n``), and what we learnt from it."""

    data: bytes
    usage: dict[str, Any] | None = None
    has_choices: bool = True
    done: bool = False


def without_null_usage(data: bytes) -> bytes:
    """The frame without a ``"usage": null`` member (for callers that did not ask for usage)."""
    for member in (b',"usage":null', b', "usage": null'):
        data = data.replace(member, b"")
    return data


def add_cost(usage: dict[str, Any], cost: float) -> None:
    """Tell the caller what the call cost, so it needs no price list of its own."""
    usage[USAGE_COST_FIELD] = round(cost, 10)


def with_cost(data: bytes, cost: float) -> bytes:
    """A framed chunk carrying ``usage``, with the cost added to it."""
    chunk = orjson.loads(data[len(b"data: ") :])
    add_cost(chunk["usage"], cost)
    return b"data: " + orjson.dumps(chunk) + b"\n\n"


def dumps(payload: dict[str, Any]) -> bytes:
    return orjson.dumps(payload)


def frame_from_chunk(chunk: dict[str, Any]) -> Frame:
    """A frame for a chunk we hold as a dict (litellm path, error events)."""
    usage = chunk.get("usage")
    return Frame(
        data=b"data: " + dumps(chunk) + b"\n\n",
        usage=usage if isinstance(usage, dict) else None,
        has_choices=bool(chunk.get("choices")),
    )


def frame_from_event(event: bytes, rename: tuple[bytes, bytes] | None) -> Frame | None:
    """A frame for one raw provider event (without its blank line); None for comments."""
    payload = b""
    for line in event.split(b"\n"):
        if line.startswith(b"data:"):
            payload = line[5:].strip()
    if not payload:
        return None
    if payload == b"[DONE]":
        return Frame(data=DONE, has_choices=False, done=True)
    if rename is not None:
        # Callers see the public model name; a byte replace is all it takes.
        payload = payload.replace(rename[0], rename[1])
    usage = None
    if b'"usage"' in payload and not any(n in payload for n in _NULL_USAGE):
        parsed = orjson.loads(payload).get("usage")
        usage = parsed if isinstance(parsed, dict) else None
    has_choices = not any(e in payload for e in _EMPTY_CHOICES)
    return Frame(data=b"data: " + payload + b"\n\n", usage=usage, has_choices=has_choices)


class FrameStream(ABC):
    """A provider stream whose first frame has arrived (so failover before it was possible)."""

    deployment_id: str = ""

    @abstractmethod
    def frames(self) -> AsyncIterator[Frame]:
        """Every frame, the first included; provider failures raise ``CodelabError``."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the upstream connection (also when the client went away)."""


class ReplayStream(FrameStream):
    """Frames already in hand (a cache hit)."""

    def __init__(self, frames: list[Frame]) -> None:
        self._frames = frames

    async def frames(self) -> AsyncIterator[Frame]:
        for frame in self._frames:
            yield frame

    async def aclose(self) -> None:
        return None
