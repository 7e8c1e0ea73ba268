"""The usage ledger and ``GET /v1/usage``: rows per call, grouping, CSV, who may read what."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from uuid import uuid4

import httpx
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from codelab_llm_proxy.adapters.cost_map import cost_usd
from codelab_llm_proxy.tracing import start_span
from codelab_testing.fake_provider import FakeProvider, Reply
from codelab_testing.mesh_fixture import create_database, drop_database

from .conftest import ProxyFor, RunningProxy, chat, deployment, sse_events

PRICE = {"input_per_mtok": 1_000_000.0, "output_per_mtok": 2_000_000.0}


@pytest.fixture
def ledger_proxy(proxy_for: ProxyFor, provider: FakeProvider) -> Iterator[RunningProxy]:
    document = {"model_list": [deployment("coder", provider.base_url, price=PRICE)]}
    with proxy_for(document, ledger_enabled=True) as proxy:
        yield proxy


def _usage(proxy: RunningProxy, **params: str) -> httpx.Response:
    claims = {k: params.pop(k) for k in ("sub", "scope") if k in params}
    return httpx.get(f"{proxy.base_url}/usage", params=params, headers=proxy.headers(**claims))


def test_every_call_is_recorded_with_who_what_and_cost(
    ledger_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script("u", [Reply.text("one two three"), Reply.text("four five")])
    session = {"X-Codelab-Session": "sess-1", "X-Codelab-Agent": "coder-agent"}
    answer = chat(ledger_proxy, "u", headers=session)
    streamed_answer = chat(
        ledger_proxy, "u", stream=True, stream_options={"include_usage": True}, headers=session
    )
    assert answer.status_code == streamed_answer.status_code == 200
    rows = _usage(ledger_proxy, group_by="none").json()["data"]
    assert len(rows) == 2
    streamed, plain = rows
    for row in rows:
        assert row["caller"] == "codelab-runtime"
        assert (row["session"], row["agent"]) == ("sess-1", "coder-agent")
        assert (row["model"], row["deployment"], row["provider"]) == ("coder", "coder#0", "openai")
        assert row["outcome"] == "ok"
        assert row["prompt_tokens"] > 0
        assert row["completion_tokens"] > 0
        expected = row["prompt_tokens"] * 1.0 + row["completion_tokens"] * 2.0
        assert row["cost_usd"] == pytest.approx(expected)
    assert streamed["stream"] is True
    assert streamed["ttft_ms"] is not None
    assert plain["stream"] is False
    # The caller is told what each call cost, the same figure the ledger holds.
    assert answer.json()["usage"]["codelab_cost_usd"] == pytest.approx(plain["cost_usd"])
    assert float(answer.headers["x-codelab-cost-usd"]) == pytest.approx(plain["cost_usd"])
    usage_chunk = json.loads(sse_events(streamed_answer)[-2])
    assert usage_chunk["usage"]["codelab_cost_usd"] == pytest.approx(streamed["cost_usd"])


def test_grouping_and_csv(ledger_proxy: RunningProxy, provider: FakeProvider) -> None:
    for session in ("a", "a", "b"):
        chat(ledger_proxy, "g", headers={"X-Codelab-Session": session})
    by_session = _usage(ledger_proxy, group_by="session").json()["data"]
    assert {r["key"]: r["requests"] for r in by_session} == {"a": 2, "b": 1}
    by_day = _usage(ledger_proxy, group_by="day").json()["data"]
    assert len(by_day) == 1
    assert by_day[0]["requests"] == 3
    exported = _usage(ledger_proxy, group_by="model", format="csv")
    assert exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert rows[0]["key"] == "coder"
    assert rows[0]["requests"] == "3"


def test_callers_see_their_own_usage_and_admins_anyones(
    ledger_proxy: RunningProxy, provider: FakeProvider
) -> None:
    chat(ledger_proxy, "w")
    assert _usage(ledger_proxy, sub="alice").json()["data"] == []
    refused = _usage(ledger_proxy, sub="alice", user="codelab-runtime")
    assert refused.status_code == 403
    admin = _usage(ledger_proxy, sub="ops", scope="llm:invoke llm:admin", user="*")
    assert admin.status_code == 200
    assert admin.json()["data"][0]["requests"] == 1


def test_cost_comes_from_litellms_cost_map_and_unknown_models_cost_nothing() -> None:
    assert cost_usd("openai/gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert cost_usd("openai/a-model-nobody-prices", 1000, 1000) == 0.0


def test_calls_are_traced_with_genai_attributes(
    ledger_proxy: RunningProxy, provider: FakeProvider
) -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    ledger_proxy.app.state.tracer = tracer_provider.get_tracer("test")
    provider.set_script("o", [Reply.text("traced"), Reply.error(400, "bad")])
    chat(ledger_proxy, "o")
    chat(ledger_proxy, "o")
    ok, failed = exporter.get_finished_spans()
    assert ok.name == "chat coder"
    attributes = dict(ok.attributes or {})
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.request.model"] == "coder"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert attributes["gen_ai.usage.output_tokens"] > 0
    assert dict(failed.attributes or {})["error.type"] == "provider_rejected_request"


def test_semantic_cache_embeddings_are_genai_embeddings_spans() -> None:
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    start_span(tracer_provider.get_tracer("test"), "cache-embedding", "bow").end()
    [span] = exporter.get_finished_spans()
    assert span.name == "embeddings bow"
    attributes = dict(span.attributes or {})
    assert attributes["gen_ai.operation.name"] == "embeddings"
    assert attributes["codelab.llm.kind"] == "cache-embedding"


def test_ledger_on_postgresql_from_two_replicas(
    proxy_for: ProxyFor, provider: FakeProvider
) -> None:
    name = f"llm_proxy_test_{uuid4().hex[:12]}"
    url = create_database(name)
    try:
        document = {"model_list": [deployment("coder", provider.base_url)]}
        ledger = {"database_url": url, "ledger_enabled": True}
        with (
            proxy_for(document, name="a", **ledger) as a,
            proxy_for(document, name="b", **ledger) as b,
        ):
            chat(a, "pg", headers={"X-Codelab-Session": "s"})
            chat(b, "pg", headers={"X-Codelab-Session": "s"})
            _usage(b)  # a read flushes that replica's queued rows first
            totals = _usage(a, group_by="session").json()["data"]
    finally:
        drop_database(name)
    # Each replica wrote its own row into the one database; either sees both.
    assert totals == [
        {
            "key": "s",
            "requests": 2,
            "prompt_tokens": totals[0]["prompt_tokens"],
            "completion_tokens": totals[0]["completion_tokens"],
            "cached_tokens": 0,
            "cost_usd": 0.0,
        }
    ]
    assert totals[0]["prompt_tokens"] > 0
