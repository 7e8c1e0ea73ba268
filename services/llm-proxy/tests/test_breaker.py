"""Circuit breakers: open after N failures, degraded serving, half-open probe, shared in Redis."""

from __future__ import annotations

import time

import httpx

from codelab_testing.fake_provider import FakeProvider, Reply

from .conftest import REDIS_URL, ProxyFor, chat, deployment


def _document(primary: str, cheap: str, cooldown: float = 30.0) -> dict[str, object]:
    return {
        "model_list": [
            deployment("coder", primary, model_info={"id": "primary"}),
            deployment("coder-cheap", cheap, model_info={"id": "cheap"}),
        ],
        "router": {
            "retries": 0,
            "degraded": {"coder": "coder-cheap"},
            "breaker": {"failures": 2, "window": 30, "cooldown": cooldown},
        },
    }


def test_open_circuit_skips_the_deployment_and_serves_degraded(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
) -> None:
    document = _document(provider.base_url, backup.base_url)
    with proxy_for(document) as proxy:
        provider.set_script("b", [Reply.error(500), Reply.error(500), Reply.text("unseen")])
        backup.set_script("b", [Reply.text("cheap answer")])
        assert chat(proxy, "b").status_code == 502
        assert chat(proxy, "b").status_code == 502
        response = chat(proxy, "b")
        exposition = httpx.get(f"{proxy.server.url}/metrics").text
    assert response.status_code == 200
    assert response.headers["x-codelab-degraded"] == "true"
    assert response.headers["x-codelab-served-by"] == "coder-cheap"
    assert response.json()["choices"][0]["message"]["content"] == "cheap answer"
    # The open circuit kept the third request away from the failing deployment.
    assert len(provider.requests("b")) == 2
    assert 'codelab_llm_fallbacks_total{model="coder",served_by="coder-cheap"} 1.0' in exposition
    assert 'codelab_llm_breaker_open{deployment="primary"} 1.0' in exposition


def test_half_open_probe_closes_the_circuit(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
) -> None:
    document = _document(provider.base_url, backup.base_url, cooldown=0.3)
    with proxy_for(document) as proxy:
        provider.set_script("p", [Reply.error(503), Reply.error(503), Reply.text("healed")])
        chat(proxy, "p")
        chat(proxy, "p")
        time.sleep(0.4)
        probe = chat(proxy, "p")
        after = chat(proxy, "p")
        exposition = httpx.get(f"{proxy.server.url}/metrics").text
    assert 'codelab_llm_breaker_open{deployment="primary"} 0.0' in exposition
    assert probe.json()["choices"][0]["message"]["content"] == "healed"
    assert "x-codelab-degraded" not in probe.headers
    assert after.status_code == 200
    assert len(provider.requests("p")) == 4


def test_every_deployment_open_without_degraded_model_is_503_with_retry_after(
    proxy_for: ProxyFor, provider: FakeProvider
) -> None:
    document = {
        "model_list": [deployment("coder", provider.base_url)],
        "router": {"retries": 0, "breaker": {"failures": 1, "cooldown": 12}},
    }
    with proxy_for(document) as proxy:
        provider.set_script("o", [Reply.error(500)])
        assert chat(proxy, "o").status_code == 502
        response = chat(proxy, "o")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "12"
    assert response.json()["error"]["code"] == "provider_unavailable"


def test_breaker_state_is_shared_by_replicas_through_redis(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
    redis_prefix: str,
) -> None:
    document = _document(provider.base_url, backup.base_url)
    shared = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    with (
        proxy_for(document, name="a", **shared) as one,
        proxy_for(document, name="b", **shared) as two,
    ):
        provider.set_script("x", [Reply.error(500), Reply.error(500)])
        backup.set_script("x", [Reply.text("degraded on replica two")])
        chat(one, "x")
        chat(one, "x")
        response = chat(two, "x")
    assert response.headers["x-codelab-degraded"] == "true"
    assert len(provider.requests("x")) == 2


def test_cache_serves_flagged_when_every_deployment_is_open(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    redis_prefix: str,
) -> None:
    document = {
        "model_list": [deployment("coder", provider.base_url)],
        "router": {"retries": 0, "breaker": {"failures": 1, "cooldown": 30}},
    }
    settings = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    refetch = {"Cache-Control": "no-cache"}
    with proxy_for(document, **settings) as proxy:
        provider.set_script("dc", [Reply.text("remembered"), Reply.error(500)])
        assert chat(proxy, "dc", temperature=0).status_code == 200
        assert chat(proxy, "dc", temperature=0, headers=refetch).status_code == 502
        degraded = chat(proxy, "dc", temperature=0, headers=refetch)
        streamed = chat(proxy, "dc", temperature=0, stream=True, headers=refetch)
    assert degraded.status_code == 200
    assert degraded.headers["x-codelab-degraded"] == "cache"
    assert degraded.json()["choices"][0]["message"]["content"] == "remembered"
    # No stream was ever cached for this request: nothing to fall back on.
    assert streamed.status_code == 503
