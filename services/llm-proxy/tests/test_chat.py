"""Chat completions through the proxy: plain, streamed, tool calls, usage, failures."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from codelab_testing.fake_provider import FakeProvider, Reply, ToolCall

from .conftest import RunningProxy

TOOLS: list[Any] = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file from the workspace",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]


def _client(proxy: RunningProxy) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=proxy.base_url, api_key=proxy.token(), max_retries=0)


def _post(proxy: RunningProxy, body: dict[str, Any], **claims: Any) -> httpx.Response:
    return httpx.post(
        f"{proxy.base_url}/chat/completions", json=body, headers=proxy.headers(**claims)
    )


def _events(response: httpx.Response) -> list[str]:
    return [line[6:] for line in response.text.splitlines() if line.startswith("data: ")]


async def test_non_stream_with_the_openai_sdk(proxy: RunningProxy, provider: FakeProvider) -> None:
    provider.set_script("plain", [Reply.text("Hello from the fake model")])
    async with _client(proxy) as client:
        completion = await client.chat.completions.create(
            model="coder", messages=[{"role": "user", "content": "hi [[script:plain]]"}]
        )
    assert completion.choices[0].message.content == "Hello from the fake model"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "coder"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 5


def test_stream_relays_openai_chunks(proxy: RunningProxy, provider: FakeProvider) -> None:
    provider.set_script("s", [Reply.text("streamed words arrive in pieces", chunk_chars=6)])
    body = {
        "model": "coder",
        "messages": [{"role": "user", "content": "[[script:s]]"}],
        "stream": True,
    }
    response = _post(proxy, body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    events = _events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" and c["model"] == "coder" for c in chunks)
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "streamed words arrive in pieces"
    assert sum(1 for c in chunks if c["choices"][0]["delta"].get("content")) >= 5
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    # Usage is always requested upstream (for metrics) but not sent to a caller who did not ask.
    assert all("usage" not in c for c in chunks)
    assert provider.requests("s")[0]["stream_options"] == {"include_usage": True}


def test_stream_usage_when_asked(proxy: RunningProxy, provider: FakeProvider) -> None:
    provider.set_script("u", [Reply.text("one two three")])
    body = {
        "model": "coder",
        "messages": [{"role": "user", "content": "[[script:u]]"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    chunks = [json.loads(e) for e in _events(_post(proxy, body))[:-1]]
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 3


async def test_streamed_tool_calls_reassemble_in_the_sdk(
    proxy: RunningProxy, provider: FakeProvider
) -> None:
    calls = [
        ToolCall(name="read_file", arguments={"path": "src/main.py"}),
        ToolCall(name="read_file", arguments={"path": "docs/README.md"}),
    ]
    provider.set_script("tools", [Reply(content="Let me look.", tool_calls=calls, chunk_chars=3)])
    async with _client(proxy) as client:
        stream = await client.chat.completions.create(
            model="coder",
            messages=[{"role": "user", "content": "read things [[script:tools]]"}],
            tools=TOOLS,
            tool_choice="auto",
            stream=True,
        )
        content = ""
        assembled: dict[int, dict[str, str]] = {}
        finish = None
        async for chunk in stream:
            choice = chunk.choices[0]
            content += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                slot = assembled.setdefault(delta.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += delta.id or ""
                if delta.function is not None:
                    slot["name"] += delta.function.name or ""
                    slot["arguments"] += delta.function.arguments or ""
    assert content == "Let me look."
    assert finish == "tool_calls"
    assert [assembled[i]["name"] for i in sorted(assembled)] == ["read_file", "read_file"]
    assert [json.loads(assembled[i]["arguments"]) for i in sorted(assembled)] == [
        {"path": "src/main.py"},
        {"path": "docs/README.md"},
    ]
    assert all(slot["id"].startswith("call_") for slot in assembled.values())
    sent = provider.requests("tools")[0]
    assert sent["tools"][0]["function"]["name"] == "read_file"
    assert sent["tool_choice"] == "auto"


def test_the_sync_sdk_gets_tool_calls_then_a_stream(
    proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script(
        "sync",
        [Reply.tool("read_file", {"path": "a.py"}), Reply.text("done reading", chunk_chars=4)],
    )
    messages: list[Any] = [{"role": "user", "content": "read a.py [[script:sync]]"}]
    with openai.OpenAI(base_url=proxy.base_url, api_key=proxy.token(), max_retries=0) as client:
        first = client.chat.completions.create(
            model="coder",
            messages=messages,
            tools=TOOLS,
            tool_choice="required",
            response_format={"type": "text"},
        )
        assert first.choices[0].message.tool_calls is not None
        call = first.choices[0].message.tool_calls[0]
        assert call.type == "function"
        messages += [
            first.choices[0].message.model_dump(exclude_none=True),
            {"role": "tool", "tool_call_id": call.id, "content": "print('a')"},
        ]
        stream = client.chat.completions.create(model="coder", messages=messages, stream=True)
        text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert first.choices[0].finish_reason == "tool_calls"
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "read_file",
        {"path": "a.py"},
    )
    assert text == "done reading"
    sent = provider.requests("sync")
    assert (sent[0]["tool_choice"], sent[0]["response_format"]) == ("required", {"type": "text"})
    assert sent[1]["messages"][-1] == {
        "role": "tool",
        "tool_call_id": call.id,
        "content": "print('a')",
    }


def test_tool_results_reach_the_provider(proxy: RunningProxy, provider: FakeProvider) -> None:
    provider.set_script("result", [Reply.text("done")])
    messages = [
        {"role": "user", "content": "[[script:result]]"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read_file", "arguments": '{"path": "a"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "file body"},
    ]
    response = _post(proxy, {"model": "coder", "messages": messages, "tools": TOOLS})
    assert response.json()["choices"][0]["message"]["content"] == "done"
    sent = provider.requests("result")[0]["messages"]
    assert sent[-1] == {"role": "tool", "tool_call_id": "call_1", "content": "file body"}


@pytest.mark.parametrize("stream", [False, True])
def test_provider_500_is_a_502(proxy: RunningProxy, provider: FakeProvider, stream: bool) -> None:
    provider.set_script("boom", [Reply.error(500, "kaboom")])
    body = {"model": "coder", "messages": [{"role": "user", "content": "[[script:boom]]"}]}
    response = _post(proxy, {**body, "stream": stream})
    assert response.status_code == 502
    error = response.json()["error"]
    assert error["type"] == "api_error"
    assert error["code"] == "provider_server_error"
    assert "kaboom" in error["message"]


def test_provider_rate_limit_is_a_429(proxy: RunningProxy, provider: FakeProvider) -> None:
    provider.set_script("slow", [Reply.error(429, "slow down")])
    body = {"model": "coder", "messages": [{"role": "user", "content": "[[script:slow]]"}]}
    response = _post(proxy, body)
    assert response.status_code == 429
    assert response.json()["error"]["type"] == "rate_limit_error"


async def test_failure_mid_stream_ends_with_an_error_event(
    proxy: RunningProxy, provider: FakeProvider
) -> None:
    provider.set_script("die", [Reply(content="x" * 64, chunk_chars=4, abort_after_chunks=4)])
    body = {
        "model": "coder",
        "messages": [{"role": "user", "content": "[[script:die]]"}],
        "stream": True,
    }
    response = _post(proxy, body)
    assert response.status_code == 200
    events = _events(response)
    assert "[DONE]" not in events
    last = json.loads(events[-1])
    assert last["error"]["code"] in {"provider_unavailable", "provider_error"}
    assert json.loads(events[0])["choices"][0]["delta"]["role"] == "assistant"
    provider.set_script("die", [Reply(content="x" * 64, chunk_chars=4, abort_after_chunks=4)])
    async with _client(proxy) as client:
        stream = await client.chat.completions.create(
            model="coder", messages=[{"role": "user", "content": "[[script:die]]"}], stream=True
        )
        with pytest.raises(openai.APIError):
            async for _ in stream:
                pass
