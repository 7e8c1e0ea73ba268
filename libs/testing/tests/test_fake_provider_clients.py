"""Official clients (litellm, the openai SDK) reassemble the fake provider's stream correctly.

This is what proves the wire protocol: if these parse it, real callers will.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import litellm
import openai
import pytest

from codelab_testing.fake_provider import FakeProvider, Reply, ToolCall

TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]


async def _litellm_stream(provider: FakeProvider, text: str, **extra: Any) -> list[Any]:
    stream = await litellm.acompletion(
        model="openai/fake",
        api_base=provider.base_url,
        api_key="x",
        messages=[{"role": "user", "content": text}],
        stream=True,
        **extra,
    )
    return [chunk async for chunk in stream]


async def test_litellm_reassembles_streamed_content(provider: FakeProvider) -> None:
    provider.set_script("c", [Reply.text("The quick brown fox jumps", chunk_chars=5)])
    chunks = await _litellm_stream(provider, "go [[script:c]]")
    response = litellm.stream_chunk_builder(chunks)
    assert response is not None
    assert response.choices[0].message.content == "The quick brown fox jumps"
    assert response.choices[0].finish_reason == "stop"
    assert len(chunks) >= 5


async def test_litellm_reassembles_streamed_tool_calls(provider: FakeProvider) -> None:
    calls = [
        ToolCall(name="read_file", arguments={"path": "src/app.py"}),
        ToolCall(name="read_file", arguments={"path": "README.md"}),
    ]
    provider.set_script("t", [Reply(content="Reading.", tool_calls=calls, chunk_chars=3)])
    chunks = await _litellm_stream(provider, "[[script:t]]", tools=TOOLS)
    response = litellm.stream_chunk_builder(chunks)
    assert response is not None
    message = response.choices[0].message
    assert message.content == "Reading."
    assert [c.function.name for c in message.tool_calls] == ["read_file", "read_file"]
    assert [json.loads(c.function.arguments) for c in message.tool_calls] == [
        {"path": "src/app.py"},
        {"path": "README.md"},
    ]
    assert all(c.id for c in message.tool_calls)
    assert response.choices[0].finish_reason == "tool_calls"
    assert provider.requests("t")[0]["tools"][0]["function"]["name"] == "read_file"


async def test_litellm_stream_reports_usage(provider: FakeProvider) -> None:
    provider.set_script("u", [Reply.text("four words right here")])
    chunks = await _litellm_stream(
        provider, "[[script:u]] count me", stream_options={"include_usage": True}
    )
    usage = [c.usage for c in chunks if getattr(c, "usage", None)]
    assert usage
    assert usage[-1].completion_tokens == 4


async def test_litellm_non_stream_and_errors(provider: FakeProvider) -> None:
    provider.set_script("n", [Reply.tool("read_file", {"path": "a"}), Reply.error(500)])
    messages = [{"role": "user", "content": "[[script:n]]"}]
    params: dict[str, Any] = {
        "model": "openai/fake",
        "api_base": provider.base_url,
        "api_key": "x",
        "max_retries": 0,
    }
    response = await litellm.acompletion(messages=messages, **params)
    assert response.choices[0].message.tool_calls[0].function.name == "read_file"
    with pytest.raises(litellm.InternalServerError) as raised:
        await litellm.acompletion(messages=messages, **params)
    assert raised.value.status_code == 500


async def test_openai_sdk_stream_and_embeddings(provider: FakeProvider) -> None:
    provider.set_script("o", [Reply.tool("read_file", '{"path": "x.py"}', chunk_chars=2)])
    async with openai.AsyncOpenAI(base_url=provider.base_url, api_key="x") as client:
        stream = await client.chat.completions.create(
            model="fake",
            messages=[{"role": "user", "content": "[[script:o]]"}],
            stream=True,
        )
        arguments = ""
        async for chunk in stream:
            for call in chunk.choices[0].delta.tool_calls or [] if chunk.choices else []:
                arguments += call.function.arguments or "" if call.function else ""
        assert json.loads(arguments) == {"path": "x.py"}
        # The SDK asks for base64 by default and decodes it back to floats.
        embedded = await client.embeddings.create(model="fake-embedding", input="hello")
        assert len(embedded.data[0].embedding) == 64


async def test_hang_keeps_the_connection_silent(provider: FakeProvider) -> None:
    """A hung provider: a bounded client read times out instead of getting an answer."""
    provider.set_script(
        "hang",
        [
            Reply(content="never", hang_after_chunks=0, hang_seconds=1.0),
            Reply(content="a" * 32, chunk_chars=4, hang_after_chunks=2, hang_seconds=1.0),
        ],
    )
    body = {"model": "fake", "messages": [{"role": "user", "content": "[[script:hang]]"}]}
    async with httpx.AsyncClient(timeout=0.3) as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(f"{provider.base_url}/chat/completions", json=body)
        received: list[bytes] = []

        async def read_stream() -> None:
            async with http.stream(
                "POST", f"{provider.base_url}/chat/completions", json={**body, "stream": True}
            ) as response:
                async for chunk in response.aiter_bytes():
                    received.append(chunk)

        with pytest.raises(httpx.ReadTimeout):
            await read_stream()
    assert b"".join(received).count(b"data: ") == 2
