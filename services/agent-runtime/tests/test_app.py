"""The service app on real Redis: probes, metrics, and a full turn over RedisSessionChannel."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis
from runtime_helpers import EditorClient

from codelab_common.sessions import RedisSessionChannel
from codelab_runtime.app import create_app
from codelab_runtime.settings import RuntimeSettings
from codelab_runtime.testing import ScriptedChatModel, ScriptedResponse, ScriptedToolCall

REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_prefix() -> AsyncIterator[str]:
    prefix = f"test:{uuid.uuid4().hex}:"
    yield prefix
    client = aioredis.Redis.from_url(REDIS_URL)
    keys = [k async for k in client.scan_iter(f"{prefix}*")]
    if keys:
        await client.delete(*keys)
    await client.aclose()


async def test_app_serves_a_session_over_redis(
    tmp_path: Path, workspace: Path, redis_prefix: str
) -> None:
    settings = RuntimeSettings(
        redis_url=REDIS_URL,
        redis_prefix=redis_prefix,
        data_dir=tmp_path / "data",
        wakeup_block_ms=100,
        log_json=False,
        allow_model_requests=False,
    )
    # The scripted model replaces the network one; the kill switch stays on regardless.
    model = ScriptedChatModel(
        [
            ScriptedResponse(tool_calls=[ScriptedToolCall("switch_mode", {"mode": "ask"})]),
            ScriptedResponse(tool_calls=[ScriptedToolCall("read_file", {"path": "app.py"})]),
            ScriptedResponse(text=["It subtracts."]),
        ]
    )
    app = create_app(settings, chat_model=model)
    redis = aioredis.Redis.from_url(REDIS_URL)
    channel = RedisSessionChannel(redis, redis_prefix)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://rt") as http:
            assert (await http.get("/healthz")).json()["status"] == "ok"
            ready = await http.get("/readyz")
            assert ready.status_code == 200, ready.text
            client = EditorClient(channel, f"sess_{uuid.uuid4().hex}", workspace)
            await client.create()
            new = await client.new_session()
            assert new["result"]["modes"]["currentModeId"] == "orchestrator"
            response = await client.wait_response(await client.prompt("what does add do?"))
            assert response["result"]["stopReason"] == "end_turn"
            assert client.texts() == ["It subtracts."]
            assert await channel.lease_owner(client.session_id) == settings.instance_id
            metrics = (await http.get("/metrics")).text
            assert 'codelab_runtime_turns_total{outcome="end_turn"} 1.0' in metrics
            assert (
                'codelab_runtime_tool_calls_total{outcome="completed",tool="read_file"}' in metrics
            )
            assert "codelab_runtime_mode_switches_total" in metrics
    assert (tmp_path / "data" / "runtime.db").exists()
    await redis.aclose()
