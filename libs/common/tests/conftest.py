"""Shared fixtures: a Redis client with a key prefix of the test's own, cleaned afterwards."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import redis.asyncio as aioredis

REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass
class RedisScope:
    client: aioredis.Redis
    prefix: str


@pytest.fixture
async def redis_scope() -> AsyncIterator[RedisScope]:
    client = aioredis.Redis.from_url(REDIS_URL)
    scope = RedisScope(client, f"test:{uuid.uuid4().hex}:")
    try:
        yield scope
    finally:
        keys = [k async for k in client.scan_iter(f"{scope.prefix}*")]
        if keys:
            await client.delete(*keys)
        await client.aclose()
