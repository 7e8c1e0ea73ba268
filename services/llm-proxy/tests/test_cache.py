"""The exact cache in Redis: deterministic requests only, per tenant, streams replayed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from uuid import uuid4

import httpx
import pytest
import redis

from codelab_testing.fake_provider import FakeProvider, Reply, ServerThread
from codelab_testing.tokens import TestIssuer

from .conftest import REDIS_URL, RunningProxy, chat, deployment, serve_proxy, sse_events


@pytest.fixture(scope="module", params=[True, False], ids=["fast-path", "litellm-path"])
def cached_proxy(
    request: pytest.FixtureRequest,
    issuer: TestIssuer,
    jwks_server: ServerThread,
    provider: FakeProvider,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningProxy]:
    """One proxy per path for the module; each test uses its own script, so its own keys."""
    prefix = f"test:{uuid4().hex}:"
    document = {"model_list": [deployment("coder", provider.base_url, fast=request.param)]}
    path = tmp_path_factory.mktemp("cache") / "m.yaml"
    settings = {"redis_url": REDIS_URL, "redis_prefix": prefix}
    with serve_proxy(issuer, jwks_server, path, document, **settings) as proxy:
        yield proxy
    client = redis.Redis.from_url(REDIS_URL)
    keys = list(client.scan_iter(f"{prefix}*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_deterministic_request_is_served_from_cache(
    cached_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script("c", [Reply.text("cached answer"), Reply.text("second answer")])
    first = chat(cached_proxy, "c", temperature=0)
    second = chat(cached_proxy, "c", temperature=0)
    assert first.headers["x-codelab-cache"] == "miss"
    assert second.headers["x-codelab-cache"] == "hit"
    assert second.json()["choices"][0]["message"]["content"] == "cached answer"
    assert len(provider.requests("c")) == 1
    exposition = httpx.get(f"{cached_proxy.server.url}/metrics").text
    assert 'codelab_llm_cache_lookups_total{model="coder",result="hit"} 1.0' in exposition
    assert 'codelab_llm_cache_lookups_total{model="coder",result="miss"} 1.0' in exposition


def test_non_deterministic_and_no_store_requests_bypass_the_cache(
    cached_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script("n", [Reply.text("a"), Reply.text("b"), Reply.text("c"), Reply.text("d")])
    warm = chat(cached_proxy, "n", temperature=0.7)
    again = chat(cached_proxy, "n", temperature=0.7)
    no_store = chat(cached_proxy, "n", temperature=0, headers={"Cache-Control": "no-store"})
    after = chat(cached_proxy, "n", temperature=0)
    assert "x-codelab-cache" not in warm.headers
    assert "x-codelab-cache" not in again.headers
    assert "x-codelab-cache" not in no_store.headers
    # no-store wrote nothing, so the next deterministic request is a miss.
    assert after.headers["x-codelab-cache"] == "miss"
    assert len(provider.requests("n")) == 4


def test_no_cache_refetches_and_refreshes_the_entry(
    cached_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script("f", [Reply.text("old"), Reply.text("fresh")])
    chat(cached_proxy, "f", cache=True)
    refreshed = chat(cached_proxy, "f", cache=True, headers={"Cache-Control": "no-cache"})
    hit = chat(cached_proxy, "f", cache=True)
    assert refreshed.json()["choices"][0]["message"]["content"] == "fresh"
    assert hit.headers["x-codelab-cache"] == "hit"
    assert hit.json()["choices"][0]["message"]["content"] == "fresh"


def test_tenants_never_share_entries(cached_proxy: RunningProxy, provider: FakeProvider) -> None:
    provider.set_script("t", [Reply.text("for alice"), Reply.text("for bob")])
    chat(cached_proxy, "t", temperature=0)
    other = httpx.post(
        f"{cached_proxy.base_url}/chat/completions",
        json={
            "model": "coder",
            "temperature": 0,
            "messages": [{"role": "user", "content": "[[script:t]]"}],
        },
        headers=cached_proxy.headers(sub="bob"),
    )
    assert other.headers["x-codelab-cache"] == "miss"
    assert other.json()["choices"][0]["message"]["content"] == "for bob"


def test_stream_is_cached_and_replayed_as_a_stream(
    cached_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script("s", [Reply.text("streamed then replayed")])
    first = chat(cached_proxy, "s", temperature=0, stream=True)
    replay = chat(
        cached_proxy, "s", temperature=0, stream=True, stream_options={"include_usage": True}
    )
    assert replay.headers["x-codelab-cache"] == "hit"
    assert replay.headers["content-type"].startswith("text/event-stream")
    for response in (first, replay):
        events = sse_events(response)
        assert events[-1] == "[DONE]"
        chunks = [json.loads(e) for e in events[:-1]]
        text = "".join(
            c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"]
        )
        assert text == "streamed then replayed"
    assert any(json.loads(e).get("usage") for e in sse_events(replay)[:-1])
    assert len(provider.requests("s")) == 1


def test_admins_see_statistics_and_invalidate_by_namespace_and_model(
    cached_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script("inv", [Reply.text("v1"), Reply.text("v2")])
    chat(cached_proxy, "inv", temperature=0)
    admin = cached_proxy.headers(sub="ops", scope="llm:invoke llm:admin")
    url = f"{cached_proxy.base_url}/cache"
    refused = httpx.delete(url, headers=cached_proxy.headers())
    stats = httpx.get(f"{url}/stats", params={"namespace": "codelab-runtime"}, headers=admin)
    other_model = httpx.delete(url, params={"model": "nobody"}, headers=admin)
    dropped = httpx.delete(
        url, params={"namespace": "codelab-runtime", "model": "coder"}, headers=admin
    )
    after = chat(cached_proxy, "inv", temperature=0)
    assert refused.status_code == 403
    assert stats.json()["entries"] >= 1
    assert other_model.json() == {"deleted": 0}
    assert dropped.json()["deleted"] >= 1
    assert after.headers["x-codelab-cache"] == "miss"
    assert after.json()["choices"][0]["message"]["content"] == "v2"
