"""Brute-force protection: per-account and per-IP counters (Redis and in-process)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aioredis

from codelab_auth.accounts import THROTTLED
from codelab_auth.throttle import LoginThrottle, MemoryCounters, RedisCounters, ThrottlePolicy

from .conftest import CLI_CLIENT, parse_form

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    return sqlite_url


@pytest.fixture
async def prefix() -> AsyncIterator[str]:
    """A fresh key prefix; every key under it is deleted afterwards."""
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*")]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


async def _attempt(auth: Any, username: str, password: str) -> dict[str, Any]:
    response = await auth.token(
        grant_type="password", username=username, password=password, client_id="codelab-cli"
    )
    body: dict[str, Any] = response.json()
    return body


async def test_account_lockout_in_redis_without_enumeration(
    boot: Any, sqlite_url: str, prefix: str
) -> None:
    settings = {
        "redis_url": REDIS_URL,
        "redis_prefix": prefix,
        "login_account_threshold": 3,
        "login_backoff_base": 60.0,
    }
    async with boot(sqlite_url, **settings) as auth:
        await auth.add_user("alice", "alice-password", ["developer"])
        await auth.add_user("bob", "bob-password", ["viewer"])
        await auth.add_client(CLI_CLIENT)
        for username in ("alice", "mallory"):  # a real and a made-up account alike
            for _ in range(3):
                failed = await _attempt(auth, username, "wrong")
                assert failed["error_description"] == "Invalid username or password."
            locked = await _attempt(auth, username, "alice-password")
            assert locked == {"error": "invalid_grant", "error_description": THROTTLED}
        assert "access_token" in await _attempt(auth, "bob", "bob-password")
        ready = (await auth.http.get("/readyz")).json()
        assert ready["checks"] == {"database": "ok", "redis": "ok"}
        client = aioredis.Redis.from_url(REDIS_URL)
        try:
            keys = [key.decode() async for key in client.scan_iter(match=f"{prefix}*")]
        finally:
            await client.aclose()
        assert keys  # the counters live in Redis (shared by replicas)
        assert not any("alice" in key or "mallory" in key for key in keys)  # hashed names


async def test_ip_lockout_covers_every_account(boot: Any, sqlite_url: str) -> None:
    async with boot(sqlite_url, login_ip_threshold=4, login_backoff_base=60.0) as auth:
        await auth.add_user("bob", "bob-password", ["viewer"])
        await auth.add_client(CLI_CLIENT)
        for number in range(4):  # a password spray: one try per account
            await _attempt(auth, f"user{number}", "guess")
        assert (await _attempt(auth, "bob", "bob-password"))["error_description"] == THROTTLED


async def test_login_page_shows_the_lockout(
    boot: Any, sqlite_url: str, browser_factory: Any
) -> None:
    async with boot(sqlite_url, login_account_threshold=1, login_backoff_base=60.0) as auth:
        await auth.add_user("alice", "alice-password", ["developer"])
        await auth.add_client(CLI_CLIENT)
        async with browser_factory(auth.app) as browser:
            params = {
                "response_type": "code",
                "client_id": "codelab-cli",
                "redirect_uri": "http://127.0.0.1:5000/callback",
                "code_challenge": "a" * 43,
                "code_challenge_method": "S256",
            }
            page = await browser.get("/oauth/authorize", params=params)
            data = {**parse_form(page.text).fields, "username": "alice", "decision": "allow"}
            wrong = await browser.post("/oauth/authorize", data={**data, "password": "x"})
            assert wrong.status_code == 401
            data.update(parse_form(wrong.text).fields)
            right = await browser.post(
                "/oauth/authorize", data={**data, "password": "alice-password"}
            )
            assert right.status_code == 429
            assert "try again later" in right.text


async def test_backoff_doubles_up_to_the_cap() -> None:
    counters = MemoryCounters()
    throttle = LoginThrottle(counters, ThrottlePolicy(account_threshold=2, base=10, max_lock=35))
    waits = []
    for _ in range(5):
        await throttle.failed("carol", None)
        waits.append(round(await throttle.retry_after("carol", None)))
    assert waits == [0, 10, 20, 35, 35]
    await throttle.succeeded("carol")
    await throttle.failed("carol", None)
    assert round(await throttle.retry_after("carol", None)) == 35  # lock stays; count restarted


async def test_redis_counters_expire_with_the_window(prefix: str) -> None:
    client = aioredis.Redis.from_url(REDIS_URL)
    try:
        counters = RedisCounters(client, prefix)
        assert await counters.incr("k", 100) == 1
        assert await counters.incr("k", 100) == 2
        assert 0 < await client.ttl(f"{prefix}k") <= 100
        await counters.lock("k", 5)
        assert 4 < await counters.locked_for("k") <= 5
        await counters.reset("k")
        assert await counters.incr("k", 100) == 1
    finally:
        await client.aclose()


async def test_ip_counter_can_be_disabled() -> None:
    throttle = LoginThrottle(MemoryCounters(), ThrottlePolicy(ip_threshold=0, base=10))
    for number in range(30):
        await throttle.failed(f"user{number}", "10.0.0.1")
    assert await throttle.retry_after("fresh-user", "10.0.0.1") == 0
