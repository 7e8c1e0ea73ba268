"""Circuit breaker per deployment: closed → open after N failures in a window → half-open.

State lives in Redis when the proxy has one, so every replica sees a deployment trip at
once; without Redis each replica keeps its own (the same logic over a dict).
Keys, per deployment: ``fails`` (sorted set of failure times), ``open`` (expires after the
cooldown), ``tripped`` (set until a success), ``probe`` (the one half-open attempt).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Literal
from uuid import uuid4

import redis.asyncio as aioredis

from codelab_llm_proxy.policy import BreakerPolicy

State = Literal["closed", "open", "half_open"]
# How long a replica trusts a "closed" it read from Redis: two round trips per call would
# cost more than the call itself on a fast provider; another replica's trip is seen this late.
_CLOSED_TRUST = 1.0


class Breaker:
    """Breaker decisions over Redis, or over a local dict when ``redis`` is None."""

    def __init__(self, redis: aioredis.Redis | None, prefix: str, policy: BreakerPolicy) -> None:
        self._redis = redis
        self._prefix = f"{prefix}llm-proxy:breaker:"
        self.policy = policy
        self._local: dict[str, float] = {}
        self._fails: dict[str, list[float]] = {}
        self._closed_until: dict[str, float] = {}
        # Deployments this replica saw fail or half-open: only those need clearing on success.
        self._dirty: set[str] = set()
        # (deployment, opened?) for the breaker-state metric; set by the app.
        self.on_change: Callable[[str, bool], None] = lambda deployment, opened: None

    def _key(self, deployment: str, part: str) -> str:
        return f"{self._prefix}{deployment}:{part}"

    async def state(self, deployment: str) -> State:
        if self._redis is None:
            if self._local.get(self._key(deployment, "open"), 0) > time.time():
                return "open"
            return "half_open" if self._key(deployment, "tripped") in self._local else "closed"
        if self._closed_until.get(deployment, 0.0) > time.monotonic():
            return "closed"
        is_open, tripped = await self._redis.mget(
            self._key(deployment, "open"), self._key(deployment, "tripped")
        )
        if is_open:
            self._dirty.add(deployment)
            return "open"
        if tripped:
            self._dirty.add(deployment)
            return "half_open"
        self._closed_until[deployment] = time.monotonic() + _CLOSED_TRUST
        return "closed"

    async def allow(self, deployment: str) -> bool:
        """True when closed, or when half-open and this caller won the single probe."""
        state = await self.state(deployment)
        if state != "half_open":
            return state == "closed"
        probe_ms = int(self.policy.cooldown * 1000)
        key = self._key(deployment, "probe")
        if self._redis is None:
            if self._local.get(key, 0) > time.time():
                return False
            self._local[key] = time.time() + probe_ms / 1000
            return True
        return bool(await self._redis.set(key, uuid4().hex, nx=True, px=probe_ms))

    async def success(self, deployment: str) -> None:
        keys = [self._key(deployment, p) for p in ("tripped", "probe", "fails")]
        if self._redis is None:
            if self._key(deployment, "tripped") in self._local:
                self.on_change(deployment, False)
            for key in keys:
                self._local.pop(key, None)
            self._fails.pop(deployment, None)
            return
        if deployment in self._dirty:
            self._dirty.discard(deployment)
            await self._redis.delete(*keys)
            self.on_change(deployment, False)

    async def failure(self, deployment: str) -> bool:
        """Count a failure; True when it (re)opened the circuit."""
        now = time.time()
        self._dirty.add(deployment)
        self._closed_until.pop(deployment, None)
        state = await self.state(deployment)
        if state == "half_open":
            await self._trip(deployment)
            return True
        window_start = now - self.policy.window
        if self._redis is None:
            fails = [t for t in self._fails.get(deployment, []) if t > window_start] + [now]
            self._fails[deployment] = fails
            count = len(fails)
        else:
            key = self._key(deployment, "fails")
            pipe = self._redis.pipeline(transaction=True)
            pipe.zadd(key, {f"{now}:{uuid4().hex[:8]}": now})
            pipe.zremrangebyscore(key, 0, window_start)
            pipe.zcard(key)
            pipe.pexpire(key, int(self.policy.window * 1000))
            count = int((await pipe.execute())[2])
        if count >= self.policy.failures:
            await self._trip(deployment)
            return True
        return False

    async def _trip(self, deployment: str) -> None:
        self.on_change(deployment, True)
        self._closed_until.pop(deployment, None)
        cooldown_ms = int(self.policy.cooldown * 1000)
        if self._redis is None:
            self._local[self._key(deployment, "open")] = time.time() + self.policy.cooldown
            self._local[self._key(deployment, "tripped")] = 1.0
            self._local.pop(self._key(deployment, "probe"), None)
            self._fails.pop(deployment, None)
            return
        pipe = self._redis.pipeline(transaction=True)
        pipe.set(self._key(deployment, "open"), "1", px=cooldown_ms)
        # Forgotten after a day without traffic rather than kept forever.
        pipe.set(self._key(deployment, "tripped"), "1", ex=86400)
        pipe.delete(self._key(deployment, "probe"), self._key(deployment, "fails"))
        await pipe.execute()
