"""The fake provider's raw HTTP surface: scripts, matching, errors, embeddings, process mode."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from codelab_testing.fake_provider import FakeProvider, Reply, ToolCall


def _chat(provider: FakeProvider, text: str, **extra: Any) -> httpx.Response:
    body = {"model": "fake", "messages": [{"role": "user", "content": text}], **extra}
    return httpx.post(f"{provider.base_url}/chat/completions", json=body, timeout=10)


def _sse_payloads(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]


def test_non_stream_reply_is_a_chat_completion(provider: FakeProvider) -> None:
    provider.set_script("greet", [Reply.text("hello there")])
    response = _chat(provider, "say hi [[script:greet]]")
    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"] == {
        "role": "assistant",
        "content": "hello there",
        "refusal": None,
    }
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 2


def test_replies_pop_in_order_then_exhaust(provider: FakeProvider) -> None:
    provider.set_script("seq", [Reply.text("one"), Reply.text("two")])
    contents = [
        _chat(provider, "[[script:seq]]").json()["choices"][0]["message"]["content"]
        for _ in range(3)
    ]
    assert contents == ["one", "two", "(fake provider: script seq exhausted)"]


def test_no_marker_uses_default_script(provider: FakeProvider) -> None:
    provider.set_script("default", [Reply.text("from default")])
    assert _chat(provider, "plain").json()["choices"][0]["message"]["content"] == "from default"
    assert provider.requests("default")[0]["messages"][0]["content"] == "plain"


def test_marker_is_found_in_system_and_part_content(provider: FakeProvider) -> None:
    provider.set_script("sys", [Reply.text("matched")])
    body = {
        "model": "fake",
        "messages": [
            {"role": "system", "content": [{"type": "text", "text": "x [[script:sys]]"}]},
            {"role": "user", "content": "no marker here"},
        ],
    }
    response = httpx.post(f"{provider.base_url}/chat/completions", json=body)
    assert response.json()["choices"][0]["message"]["content"] == "matched"


def test_the_latest_marker_wins(provider: FakeProvider) -> None:
    provider.set_script("first", [Reply.text("old script")])
    provider.set_script("follow-up", [Reply.text("new script")])
    body = {
        "model": "fake",
        "messages": [
            {"role": "user", "content": "[[script:first]]"},
            {"role": "assistant", "content": "old answer"},
            {"role": "user", "content": [{"type": "text", "text": "more [[script:follow-up]]"}]},
        ],
    }
    response = httpx.post(f"{provider.base_url}/chat/completions", json=body)
    assert response.json()["choices"][0]["message"]["content"] == "new script"
    assert provider.requests("first") == []


def test_stream_chunks_follow_openai_shape(provider: FakeProvider) -> None:
    reply = Reply(content="abcdefghij", tool_calls=[ToolCall(name="f", arguments={"a": 1})])
    provider.set_script("s", [reply.model_copy(update={"chunk_chars": 4})])
    response = _chat(provider, "[[script:s]]", stream=True, stream_options={"include_usage": True})
    assert response.headers["content-type"].startswith("text/event-stream")
    payloads = _sse_payloads(response)
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(p) for p in payloads[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    texts = [c["choices"][0]["delta"].get("content") for c in chunks[1:4]]
    assert texts == ["abcd", "efgh", "ij"]
    opening = chunks[4]["choices"][0]["delta"]["tool_calls"][0]
    assert opening["function"] == {"name": "f", "arguments": ""}
    assert opening["id"].startswith("call_")
    assert opening["type"] == "function"
    fragments = [c["choices"][0]["delta"]["tool_calls"][0]["function"] for c in chunks[5:7]]
    assert "".join(f["arguments"] for f in fragments) == '{"a": 1}'
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] > 0


def test_error_status_returns_openai_error_body(provider: FakeProvider) -> None:
    provider.set_script("boom", [Reply.error(503, "overloaded")])
    response = _chat(provider, "[[script:boom]]", stream=True)
    assert response.status_code == 503
    assert response.json()["error"]["message"] == "overloaded"
    assert response.json()["error"]["type"] == "server_error"


def test_scripts_and_requests_over_http(provider: FakeProvider) -> None:
    root = provider.root_url
    posted = httpx.post(f"{root}/_scripts/http", json={"replies": [{"content": "via http"}]})
    assert posted.json() == {"script": "http", "queued": 1}
    assert _chat(provider, "[[script:http]]").json()["choices"][0]["message"]["content"] == (
        "via http"
    )
    seen = httpx.get(f"{root}/_requests", params={"script": "http"}).json()["requests"]
    assert seen[0]["messages"][0]["content"] == "[[script:http]]"
    assert httpx.delete(f"{root}/_scripts").status_code == 204
    assert httpx.get(f"{root}/_requests").json()["requests"] == []
    bad = httpx.post(f"{root}/_scripts/x", json={"replies": [{"chunk_chars": 0}]})
    assert bad.status_code == 422


def test_models_and_deterministic_embeddings(provider: FakeProvider) -> None:
    models = httpx.get(f"{provider.base_url}/models").json()
    assert [m["id"] for m in models["data"]] == ["fake", "fake-embedding"]
    body = {"model": "fake-embedding", "input": ["alpha", "beta", "alpha"], "dimensions": 8}
    data = httpx.post(f"{provider.base_url}/embeddings", json=body).json()["data"]
    vectors = [d["embedding"] for d in data]
    assert len(vectors[0]) == 8
    assert vectors[0] == vectors[2]
    assert vectors[0] != vectors[1]
    assert sum(v * v for v in vectors[0]) == pytest.approx(1.0)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_runs_as_a_process() -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "codelab_testing.fake_provider", "--port", str(port)],
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(f"{url}/v1/models", timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "fake provider process did not start"
                time.sleep(0.1)
        httpx.post(f"{url}/_scripts/p", json={"replies": [{"content": "from process"}]})
        body = {"model": "fake", "messages": [{"role": "user", "content": "[[script:p]]"}]}
        answer = httpx.post(f"{url}/v1/chat/completions", json=body).json()
        assert answer["choices"][0]["message"]["content"] == "from process"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_abort_after_chunks_drops_the_connection(provider: FakeProvider) -> None:
    provider.set_script("die", [Reply(content="x" * 40, chunk_chars=4, abort_after_chunks=2)])
    with pytest.raises(httpx.RemoteProtocolError):
        _chat(provider, "[[script:die]]", stream=True)
