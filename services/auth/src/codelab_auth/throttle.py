"""Brute-force protection: failed-login counters per account and per client IP.

After ``threshold`` failures within ``window`` seconds a key is locked for
``base * 2**(failures - threshold)`` seconds, capped at ``max_lock`` (exponential
back-off). Counters live in Redis so every replica sees them; without a Redis URL an
in-process store serves the embedded single-process default. Usernames are counted
whether or not they exist (and hashed in keys), so the lockout reveals nothing.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Protocol

import redis.asyncio as aioredis


class CounterStore(Protocol):
    """Expiring counters and locks: Redis, or memory for a single process."""

    async def incr(self, key: str, window: int) -> int: ...
    async def lock(self, key: str, seconds: float) -> None: ...
    async def locked_for(self, key: str) -> float: ...
    async def reset(self, key: str) -> None: ...


class RedisCounters:
    """Counters in Redis: INCR with a window TTL, locks as keys with a PX expiry."""

    def __init__(self, redis: aioredis.Redis, prefix: str) -> None:
        self._redis = redis
        self._prefix = prefix

    async def incr(self, key: str, window: int) -> int:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(self._prefix + key)
            pipe.expire(self._prefix + key, window, nx=True)
            count, _ = await pipe.execute()
        return int(count)

    async def lock(self, key: str, seconds: float) -> None:
        await self._redis.set(f"{self._prefix}{key}:lock", 1, px=max(1, int(seconds * 1000)))

    async def locked_for(self, key: str) -> float:
        remaining = await self._redis.pttl(f"{self._prefix}{key}:lock")
        return max(0.0, remaining / 1000)

    async def reset(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)


class MemoryCounters:
    """The same in a dict, for one process (the embedded default without Redis)."""

    def __init__(self) -> None:
        self._counts: dict[str, tuple[int, float]] = {}
        self._locks: dict[str, float] = {}

    async def incr(self, key: str, window: int) -> int:
        now = time.monotonic()
        count, expires = self._counts.get(key, (0, now + window))
        if expires <= now:
            count, expires = 0, now + window
        self._counts[key] = (count + 1, expires)
        if len(self._counts) > 100_000:  # bound memory under a spray of usernames
            self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
        return count + 1

    async def lock(self, key: str, seconds: float) -> None:
        self._locks[key] = time.monotonic() + seconds

    async def locked_for(self, key: str) -> float:
        return max(0.0, self._locks.get(key, 0.0) - time.monotonic())

    async def reset(self, key: str) -> None:
        self._counts.pop(key, None)


@dataclass(frozen=True)
class ThrottlePolicy:
    """Thresholds and back-off (seconds)."""

    account_threshold: int = 5
    ip_threshold: int = 20
    window: int = 900
    base: float = 1.0
    max_lock: float = 900.0


class LoginThrottle:
    """Decides whether a login attempt may be checked at all, and counts failures."""

    def __init__(self, store: CounterStore, policy: ThrottlePolicy) -> None:
        self._store = store
        self._policy = policy

    def _keys(self, username: str, ip: str | None) -> list[tuple[str, str]]:
        account = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
        keys = [("account", f"auth:fail:user:{account}")]
        if ip and self._policy.ip_threshold > 0:
            keys.append(("ip", f"auth:fail:ip:{ip}"))
        return keys

    async def retry_after(self, username: str, ip: str | None) -> float:
        """Seconds until an attempt for this account/IP is allowed again (0: now)."""
        waits = [await self._store.locked_for(key) for _, key in self._keys(username, ip)]
        return max(waits)

    async def failed(self, username: str, ip: str | None) -> None:
        policy = self._policy
        for kind, key in self._keys(username, ip):
            count = await self._store.incr(key, policy.window)
            threshold = policy.account_threshold if kind == "account" else policy.ip_threshold
            if count >= threshold:
                delay = min(policy.max_lock, policy.base * 2 ** (count - threshold))
                await self._store.lock(key, delay)

    async def succeeded(self, username: str) -> None:
        """A right password clears the account's counter (the IP's keeps counting)."""
        for kind, key in self._keys(username, None):
            if kind == "account":
                await self._store.reset(key)
