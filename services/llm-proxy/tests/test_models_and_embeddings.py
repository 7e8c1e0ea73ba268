"""/v1/models, /v1/embeddings, and what each call leaves in metrics and logs."""

from __future__ import annotations

import json
import logging

import httpx
import openai
import pytest
from prometheus_client import CollectorRegistry

from codelab_testing.fake_provider import FakeProvider, Reply

from .conftest import ProxyFor, RunningProxy, deployment


async def test_models_lists_configured_names(proxy: RunningProxy) -> None:
    async with openai.AsyncOpenAI(base_url=proxy.base_url, api_key=proxy.token()) as client:
        listed = [m.id async for m in client.models.list()]
        one = await client.models.retrieve("coder")
    assert listed == ["coder", "embedder"]
    assert one.id == "coder"


def test_models_say_their_context_window(proxy_for: ProxyFor, provider: FakeProvider) -> None:
    small = deployment("coder", provider.base_url, model_info={"max_input_tokens": 8000})
    large = deployment("coder", provider.base_url, model_info={"max_input_tokens": 32000})
    known = deployment("gpt", provider.base_url)
    known["litellm_params"]["model"] = "openai/gpt-4o"
    unknown = deployment("mystery", provider.base_url)
    with proxy_for({"model_list": [small, large, known, unknown]}) as proxy:
        listed = httpx.get(f"{proxy.base_url}/models", headers=proxy.headers()).json()["data"]
        one = httpx.get(f"{proxy.base_url}/models/coder", headers=proxy.headers()).json()
    windows = {m["id"]: m.get("context_window") for m in listed}
    # The pool promises what its smallest deployment takes; litellm's model map fills in
    # known models; nothing is said of a model nobody knows.
    assert windows == {"coder": 8000, "gpt": 128000, "mystery": None}
    assert one["context_window"] == 8000


async def test_embeddings_through_the_sdk(proxy: RunningProxy) -> None:
    async with openai.AsyncOpenAI(base_url=proxy.base_url, api_key=proxy.token()) as client:
        # The SDK asks for base64 by default and decodes it; floats must work too.
        packed = await client.embeddings.create(model="embedder", input=["alpha", "beta"])
        plain = await client.embeddings.create(
            model="embedder", input="alpha", encoding_format="float"
        )
        # The fast path passes OpenAI parameters through; the provider decides.
        short = await client.embeddings.create(
            model="embedder", input="alpha", dimensions=8, encoding_format="float"
        )
    assert len(short.data[0].embedding) == 8
    assert [len(d.embedding) for d in packed.data] == [64, 64]
    assert packed.data[0].embedding != packed.data[1].embedding
    assert plain.data[0].embedding == pytest.approx(packed.data[0].embedding, rel=1e-6)
    assert packed.model == "embedder"


def _sample(registry: CollectorRegistry, name: str, labels: dict[str, str]) -> float:
    return registry.get_sample_value(name, labels) or 0.0


def test_metrics_and_log_line(
    proxy: RunningProxy, provider: FakeProvider, caplog: pytest.LogCaptureFixture
) -> None:
    registry: CollectorRegistry = proxy.app.state.metrics_registry
    ok = {"model": "coder", "kind": "chat", "outcome": "ok"}
    before = _sample(registry, "codelab_llm_requests_total", ok)
    tokens_before = _sample(
        registry, "codelab_llm_tokens_total", {"model": "coder", "direction": "out"}
    )
    provider.set_script("m", [Reply.text("a b c d")])
    secret_prompt = "[[script:m]] my very private prompt"
    body = {
        "model": "coder",
        "messages": [{"role": "user", "content": secret_prompt}],
        "stream": True,
    }
    headers = {
        **proxy.headers(sub="codelab-runtime"),
        "X-Codelab-Session": "sess_1",
        "X-Codelab-Agent": "coder",
    }
    with caplog.at_level(logging.INFO, logger="codelab_llm_proxy.requests"):
        response = httpx.post(f"{proxy.base_url}/chat/completions", json=body, headers=headers)
        assert response.text.endswith("data: [DONE]\n\n")
    assert _sample(registry, "codelab_llm_requests_total", ok) == before + 1
    assert (
        _sample(registry, "codelab_llm_tokens_total", {"model": "coder", "direction": "out"})
        == tokens_before + 4
    )
    assert (
        _sample(registry, "codelab_llm_time_to_first_token_seconds_count", {"model": "coder"}) >= 1
    )
    records = [r for r in caplog.records if getattr(r, "session_id", None) == "sess_1"]
    assert len(records) == 1
    record = records[0]
    assert (record.model, record.agent, record.caller, record.outcome) == (  # type: ignore[attr-defined]
        "coder",
        "coder",
        "codelab-runtime",
        "ok",
    )
    assert record.completion_tokens == 4  # type: ignore[attr-defined]
    line = json.dumps(record.__dict__, default=str)
    assert "private prompt" not in line
    assert headers["Authorization"].split()[1] not in line
    exposed = httpx.get(f"{proxy.server.url}/metrics").text
    assert "codelab_llm_request_duration_seconds_bucket" in exposed
