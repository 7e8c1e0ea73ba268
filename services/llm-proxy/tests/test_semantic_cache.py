"""The semantic cache in Qdrant (local mode under data_dir): paraphrases hit, other questions and
other agents (system prompt, tools) or callers miss; streams replay; admin invalidation."""

from __future__ import annotations

import asyncio
import json
import re
import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from qdrant_client import AsyncQdrantClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from codelab_llm_proxy.semantic_cache import _PURGE_EVERY, SemanticCache
from codelab_llm_proxy.usage import CallRecord
from codelab_testing.fake_provider import FakeProvider, Reply, ServerThread
from codelab_testing.tokens import TestIssuer

from .conftest import ProxyFor, RunningProxy, deployment, serve_proxy, sse_events

# Word counts over a fixed vocabulary: rewordings of one question share their content words
# (cosine near 1), different questions do not. The fake provider's hash vectors cannot say that.
VOCABULARY = [
    "reverse", "list", "python", "sort", "dictionary", "dict", "file", "read", "rust",
    "string", "capital", "france", "weather", "oslo", "array", "order", "backwards",
]  # fmt: skip
SYNONYMS = {"backwards": "reverse", "dict": "dictionary", "order": "sort", "array": "list"}


def bag_of_words(text: str) -> list[float]:
    vector = [0.0] * len(VOCABULARY)
    for word in re.findall(r"[a-z]+", text.lower()):
        word = SYNONYMS.get(word, word)
        if word in VOCABULARY:
            vector[VOCABULARY.index(word)] += 1.0
    vector[-1] += 0.01  # never the zero vector, which has no cosine
    return vector


@pytest.fixture(scope="module")
def embedder() -> Iterator[ServerThread]:
    async def embeddings(request: Request) -> JSONResponse:
        body = await request.json()
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": bag_of_words(text)}
            for i, text in enumerate(inputs)
        ]
        usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
        return JSONResponse(
            {"object": "list", "data": data, "model": body["model"], "usage": usage}
        )

    app = Starlette(routes=[Route("/v1/embeddings", embeddings, methods=["POST"])])
    with ServerThread(app, lifespan="off") as server:
        yield server


@pytest.fixture(scope="module")
def semantic_proxy(
    issuer: TestIssuer,
    jwks_server: ServerThread,
    provider: FakeProvider,
    embedder: ServerThread,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningProxy]:
    document = {
        "model_list": [
            deployment("coder", provider.base_url),
            deployment("bow", f"{embedder.url}/v1"),
        ]
    }
    path = tmp_path_factory.mktemp("semantic") / "m.yaml"
    settings = {
        "semantic_cache_embedding_model": "bow",
        "semantic_cache_threshold": 0.9,
    }
    with serve_proxy(issuer, jwks_server, path, document, **settings) as proxy:
        yield proxy


def ask(
    proxy: RunningProxy,
    script: str,
    question: str,
    *,
    system: str = "You are a coder.",
    **body: Any,
) -> httpx.Response:
    headers = {**proxy.headers(**body.pop("claims", {})), **body.pop("headers", {})}
    messages = [
        {"role": "system", "content": f"{system} [[script:{script}]]"},
        {"role": "user", "content": question},
    ]
    payload = {"model": "coder", "messages": messages, "temperature": 0, **body}
    return httpx.post(
        f"{proxy.base_url}/chat/completions", json=payload, headers=headers, timeout=10
    )


def content(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def test_a_reworded_question_hits_and_a_different_one_misses(
    semantic_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script("s1", [Reply.text("use reversed()"), Reply.text("use sorted()")])
    first = ask(semantic_proxy, "s1", "How do I reverse a list in Python?")
    again = ask(semantic_proxy, "s1", "In Python, how can I reverse a list?")
    other = ask(semantic_proxy, "s1", "How do I sort a dict in Python?")
    assert first.headers["x-codelab-cache"] == "miss"
    assert again.headers["x-codelab-cache"] == "semantic-hit"
    assert content(again) == "use reversed()"
    # The #12234/#31610 failure: one cached entry returned for a different question.
    assert other.headers["x-codelab-cache"] == "miss"
    assert content(other) == "use sorted()"
    assert len(provider.requests("s1")) == 2
    exposition = httpx.get(f"{semantic_proxy.server.url}/metrics").text
    assert 'codelab_llm_semantic_cache_lookups_total{model="coder",result="hit"}' in exposition
    assert 'codelab_llm_cache_lookups_total{model="coder",result="semantic-hit"}' in exposition


def test_another_agent_tool_set_or_caller_never_gets_the_answer(
    semantic_proxy: RunningProxy, provider: FakeProvider
) -> None:
    replies = [Reply.text(f"answer {i}") for i in range(5)]
    provider.set_script("s2", replies)
    question = "How do I read a file in Rust?"
    assert content(ask(semantic_proxy, "s2", question)) == "answer 0"
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {}}}]
    other_agent = ask(semantic_proxy, "s2", question, system="You are a reviewer.")
    with_tools = ask(semantic_proxy, "s2", question, tools=tools)
    other_caller = ask(semantic_proxy, "s2", question, claims={"sub": "someone-else"})
    for response, expected in [(other_agent, 1), (with_tools, 2), (other_caller, 3)]:
        assert response.headers["x-codelab-cache"] == "miss"
        assert content(response) == f"answer {expected}"
    assert ask(semantic_proxy, "s2", "Rust: read a file how?").headers["x-codelab-cache"] == (
        "semantic-hit"
    )


def test_non_deterministic_and_no_store_requests_bypass(
    semantic_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script("s3", [Reply.text(f"r{i}") for i in range(4)])
    question = "What is the capital of France?"
    ask(semantic_proxy, "s3", question, temperature=0.7)
    warm = ask(semantic_proxy, "s3", question, temperature=0.7)
    assert "x-codelab-cache" not in warm.headers
    ask(semantic_proxy, "s3", question, headers={"cache-control": "no-store"})
    assert content(ask(semantic_proxy, "s3", question)) == "r3"


def test_streams_are_replayed_and_admin_invalidation_drops_entries(
    semantic_proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script("s4", [Reply.text("sunny"), Reply.text("rainy")])
    first = ask(semantic_proxy, "s4", "Weather in Oslo?", stream=True)
    replay = ask(semantic_proxy, "s4", "What is the weather in Oslo?", stream=True)
    assert first.headers["x-codelab-cache"] == "miss"
    assert replay.headers["x-codelab-cache"] == "semantic-hit"
    assert sse_events(replay)[-1] == "[DONE]"
    assert "sunny" in replay.text
    admin = semantic_proxy.headers(scope="llm:invoke llm:admin")
    url = f"{semantic_proxy.base_url}/cache"
    stats = httpx.get(f"{url}/stats", params={"model": "coder"}, headers=admin).json()
    assert stats["semantic_entries"] >= 1
    dropped = httpx.delete(url, params={"model": "coder"}, headers=admin).json()
    assert dropped["semantic_deleted"] == stats["semantic_entries"]
    after = ask(semantic_proxy, "s4", "What is the weather in Oslo?", stream=True)
    assert after.headers["x-codelab-cache"] == "miss"
    assert "rainy" in after.text


def test_a_failing_embedder_costs_the_lookup_not_the_answer(
    proxy_for: ProxyFor, provider: FakeProvider
) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{closed.getsockname()[1]}/v1"
    document = {"model_list": [deployment("coder", provider.base_url), deployment("bow", dead)]}
    settings = {"semantic_cache_embedding_model": "bow"}
    provider.set_script("s5", [Reply.text("still answered")])
    with proxy_for(document, **settings) as proxy:
        response = ask(proxy, "s5", "How do I reverse a list in Python?")
    assert content(response) == "still answered"


def test_the_cache_lookup_embedding_is_in_the_callers_ledger(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    embedder: ServerThread,
) -> None:
    document = {
        "model_list": [
            deployment("coder", provider.base_url),
            deployment("bow", f"{embedder.url}/v1"),
        ]
    }
    settings = {"semantic_cache_embedding_model": "bow", "ledger_enabled": True}
    provider.set_script("s6", [Reply.text("reversed")])
    session = {"x-codelab-session": "sess-6", "x-codelab-agent": "coder"}
    with proxy_for(document, **settings) as proxy:
        ask(proxy, "s6", "How do I reverse a list in Python?", headers=session)
        again = ask(proxy, "s6", "In Python, how can I reverse a list?", headers=session)
        assert again.headers["x-codelab-cache"] == "semantic-hit"
        usage = httpx.get(
            f"{proxy.base_url}/usage", params={"group_by": "none"}, headers=proxy.headers()
        )
    rows = sorted(usage.json()["data"], key=lambda row: row["id"])
    kinds = [(row["kind"], row["model"], row["cache"]) for row in rows]
    # One embedding per request (miss, then hit), one chat call, one cached answer.
    assert kinds == [
        ("cache-embedding", "bow", None),
        ("chat", "coder", "miss"),
        ("cache-embedding", "bow", None),
        ("chat", "coder", "semantic-hit"),
    ]
    for row in rows:
        assert (row["session"], row["agent"], row["outcome"]) == ("sess-6", "coder", "ok")
    embeddings = [row for row in rows if row["kind"] == "cache-embedding"]
    assert [row["prompt_tokens"] for row in embeddings] == [1, 1]  # the embedder's usage
    assert {row["deployment"] for row in embeddings} == {"bow#1"}


async def test_expired_entries_are_hidden_and_purged() -> None:
    async def embed(text: str, record: CallRecord) -> list[float]:
        return bag_of_words(text)

    client = AsyncQdrantClient(location=":memory:")
    cache = SemanticCache(client, "purge", embed, threshold=0.9, ttl=0.05, embedding_model="bow")
    vector = bag_of_words("reverse a list in python")
    for _ in range(_PURGE_EVERY - 1):
        await cache.put("ns", "coder", "scope", "json", vector, json.dumps({"id": "x"}))
    assert await cache.get_json("ns", "coder", "scope", vector) == {"id": "x"}
    await asyncio.sleep(0.1)
    assert await cache.get_json("ns", "coder", "scope", vector) is None
    await cache.put("ns", "coder", "scope", "json", vector, json.dumps({"id": "y"}))
    assert await cache.count() == 1  # only the fresh entry is left
    await cache.aclose()
