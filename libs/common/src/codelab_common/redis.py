"""The one way services make their Redis client."""

from __future__ import annotations

import redis.asyncio as aioredis

# Longer than any blocking stream read we issue (XREAD/XREADGROUP BLOCK <= 5 s): redis-py 8
# defaults to a 5 s socket timeout, which turns an idle blocking read into a TimeoutError.
DEFAULT_SOCKET_TIMEOUT = 30.0


def create_redis(url: str, *, socket_timeout: float = DEFAULT_SOCKET_TIMEOUT) -> aioredis.Redis:
    """A pooled client for ``url``; create it in the lifespan and ``aclose()`` it on exit."""
    return aioredis.Redis.from_url(
        url,
        socket_timeout=socket_timeout,
        socket_connect_timeout=5.0,
        health_check_interval=30,
    )
