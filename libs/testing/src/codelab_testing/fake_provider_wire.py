"""OpenAI wire objects the fake provider sends: completions, stream chunks, embeddings, errors.

Shapes follow the OpenAI chat-completions API as the ``openai`` SDK and litellm parse it,
including how tool calls are streamed (an opening delta with id and name, then argument
fragments).
"""

from __future__ import annotations

import base64
import hashlib
import math
import struct
import time
import uuid
from collections.abc import Iterator
from typing import Any

from codelab_testing.fake_provider_models import Reply, message_text


def _count_tokens(text: str) -> int:
    # A stable, cheap stand-in for a tokenizer: tests only need deterministic numbers.
    return max(1, len(text.split())) if text else 0


def usage_for(body: dict[str, Any], reply: Reply) -> dict[str, int]:
    prompt = _count_tokens(message_text(body.get("messages")))
    completion = _count_tokens(reply.content or "") + sum(
        _count_tokens(call.arguments_json()) + 1 for call in reply.tool_calls
    )
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = "invalid_request_error" if 400 <= status < 500 else "server_error"
    return {"error": {"message": message, "type": kind, "param": None, "code": None}}


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class CompletionBuilder:
    """Builds the response objects for one request/reply pair, sharing id, model and time."""

    def __init__(self, body: dict[str, Any], reply: Reply) -> None:
        self.body = body
        self.reply = reply
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.model = str(body.get("model", "fake"))
        self.created = int(time.time())
        self.call_ids = [f"call_{uuid.uuid4().hex[:24]}" for _ in reply.tool_calls]

    def completion(self) -> dict[str, Any]:
        message: dict[str, Any] = {
            "role": "assistant",
            "content": self.reply.content,
            "refusal": None,
        }
        if self.reply.tool_calls:
            message["tool_calls"] = [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": call.name, "arguments": call.arguments_json()},
                }
                for call_id, call in zip(self.call_ids, self.reply.tool_calls, strict=True)
            ]
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {
                    "index": 0,
                    "message": message,
                    "logprobs": None,
                    "finish_reason": self.reply.resolved_finish_reason(),
                }
            ],
            "usage": usage_for(self.body, self.reply),
        }

    def _chunk(self, delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        chunk: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            "choices": [
                {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
            ],
        }
        if self._include_usage():
            chunk["usage"] = None
        return chunk

    def _include_usage(self) -> bool:
        options = self.body.get("stream_options")
        return isinstance(options, dict) and bool(options.get("include_usage"))

    def chunks(self) -> Iterator[dict[str, Any]]:
        """Every chunk of the stream, in order, without the final ``[DONE]``."""
        size = self.reply.chunk_chars
        yield self._chunk({"role": "assistant", "content": "", "refusal": None})
        for piece in _split(self.reply.content or "", size):
            yield self._chunk({"content": piece})
        for index, (call_id, call) in enumerate(
            zip(self.call_ids, self.reply.tool_calls, strict=True)
        ):
            opening = {
                "index": index,
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": ""},
            }
            yield self._chunk({"tool_calls": [opening]})
            for fragment in _split(call.arguments_json(), size):
                yield self._chunk(
                    {"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}
                )
        yield self._chunk({}, self.reply.resolved_finish_reason())
        if self._include_usage():
            usage_chunk = self._chunk({})
            usage_chunk["choices"] = []
            usage_chunk["usage"] = usage_for(self.body, self.reply)
            yield usage_chunk


def embedding_vector(text: str, dims: int) -> list[float]:
    """A unit vector derived from SHA-256 of ``text``: same text, same vector, any process."""
    raw = b""
    counter = 0
    while len(raw) < dims * 4:
        raw += hashlib.sha256(f"{counter}:{text}".encode()).digest()
        counter += 1
    values = [(n / 0xFFFFFFFF) * 2.0 - 1.0 for n in struct.unpack(f"<{dims}I", raw[: dims * 4])]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def embeddings_response(body: dict[str, Any], default_dims: int) -> dict[str, Any]:
    raw_input = body.get("input", "")
    texts = [raw_input] if isinstance(raw_input, str) else [str(t) for t in raw_input]
    dims = int(body.get("dimensions") or default_dims)
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(texts):
        vector = embedding_vector(text, dims)
        encoded: list[float] | str = vector
        if as_base64:
            encoded = base64.b64encode(struct.pack(f"<{dims}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = sum(_count_tokens(t) for t in texts)
    return {
        "object": "list",
        "data": data,
        "model": str(body.get("model", "fake-embedding")),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
