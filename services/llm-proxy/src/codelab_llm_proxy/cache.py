"""Exact response cache in Redis, keyed by a canonical hash of the request, per tenant.

Only deterministic requests are cached (``temperature: 0``, or the ``cache: true``
extension field). Streams are stored as their frames and replayed as a stream.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

import orjson
import redis.asyncio as aioredis

from codelab_llm_proxy.streams import Frame, frame_from_event

_GLOB = re.compile(r"([*?\[\]\\])")
# Fields that change how the answer is delivered, not what it is.
_DELIVERY = {"stream", "stream_options", "user", "cache"}


def cache_key(model: str, params: dict[str, Any]) -> str:
    """sha256 of the request in canonical JSON (sorted keys, no whitespace)."""
    relevant = {k: v for k, v in params.items() if k not in _DELIVERY}
    canonical = json.dumps(
        {"model": model, **relevant}, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    # The model leads so entries can be invalidated per model (see ExactCache.invalidate).
    return f"{model}:{hashlib.sha256(canonical.encode()).hexdigest()}"


def is_cacheable(params: dict[str, Any], explicit: bool | None) -> bool:
    if explicit is not None:
        return explicit
    return params.get("temperature") == 0 and params.get("n", 1) == 1


class ExactCache:
    """Get/put whole answers; ``namespace`` is the caller, so tenants never share entries."""

    def __init__(self, redis: aioredis.Redis, prefix: str, ttl: float) -> None:
        self._redis = redis
        self._prefix = f"{prefix}llm-proxy:cache:"
        self._ttl_ms = int(ttl * 1000)

    def _key(self, namespace: str, key: str, stream: bool) -> str:
        return f"{self._prefix}{namespace}:{'sse' if stream else 'json'}:{key}"

    async def get_json(self, namespace: str, key: str) -> dict[str, Any] | None:
        raw = await self._redis.get(self._key(namespace, key, False))
        if raw is None:
            return None
        body: dict[str, Any] = orjson.loads(raw)
        return body

    async def put_json(self, namespace: str, key: str, body: dict[str, Any]) -> None:
        await self._redis.set(self._key(namespace, key, False), orjson.dumps(body), px=self._ttl_ms)

    async def get_frames(self, namespace: str, key: str) -> list[Frame] | None:
        raw = await self._redis.get(self._key(namespace, key, True))
        if raw is None:
            return None
        events: list[str] = orjson.loads(raw)
        frames = [frame_from_event(e.encode(), None) for e in events]
        return [f for f in frames if f is not None]

    async def put_frames(self, namespace: str, key: str, frames: list[Frame]) -> None:
        events = [f.data.decode().rstrip("\n") for f in frames if not f.done]
        await self._redis.set(
            self._key(namespace, key, True), orjson.dumps(events), px=self._ttl_ms
        )

    def _pattern(self, namespace: str | None, model: str | None, key: str | None) -> str:
        def part(value: str | None) -> str:
            return _GLOB.sub(r"\\\1", value) if value is not None else "*"

        tail = part(key) if key is not None else f"{part(model)}:*"
        return f"{self._prefix}{part(namespace)}:*:{tail}"

    async def invalidate(
        self, namespace: str | None = None, model: str | None = None, key: str | None = None
    ) -> int:
        """Drop the entries matching every given filter; the number dropped."""
        deleted = 0
        batch: list[bytes] = []
        async for found in self._redis.scan_iter(match=self._pattern(namespace, model, key)):
            batch.append(found)
            if len(batch) >= 500:
                deleted += int(await self._redis.unlink(*batch))
                batch = []
        if batch:
            deleted += int(await self._redis.unlink(*batch))
        return deleted

    async def count(self, namespace: str | None = None, model: str | None = None) -> int:
        return sum(
            [1 async for _ in self._redis.scan_iter(match=self._pattern(namespace, model, None))]
        )
