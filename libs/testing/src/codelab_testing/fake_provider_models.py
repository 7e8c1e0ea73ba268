"""The script vocabulary of the fake OpenAI provider: what a test queues, what it gets back.

Tests build :class:`Reply` values (or post the same JSON to ``/_scripts/{name}``); the
provider pops one per request of the matching script.
"""

from __future__ import annotations

import json
import re
import threading
from collections import defaultdict, deque
from typing import Any

from pydantic import BaseModel, Field

SCRIPT_MARKER = re.compile(r"\[\[script:([A-Za-z0-9_.:-]+)\]\]")
DEFAULT_SCRIPT = "default"


class ToolCall(BaseModel):
    """A function call the fake model makes; ``arguments`` is sent as a JSON string."""

    name: str
    arguments: dict[str, Any] | str = Field(default_factory=dict)

    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments)


class Reply(BaseModel):
    """One scripted model turn: text and/or tool calls, or an HTTP error when ``status`` != 200."""

    content: str | None = None
    tool_calls: list[ToolCall] = Field(default_factory=list)
    delay_per_chunk: float = 0.0
    chunk_chars: int = Field(default=8, ge=1)
    status: int = 200
    finish_reason: str | None = None
    abort_after_chunks: int | None = Field(
        default=None,
        description="Streaming only: drop the connection after this many chunks.",
    )
    hang_after_chunks: int | None = Field(
        default=None,
        description="Go silent (connection open) after this many chunks; 0: before any answer.",
    )
    hang_seconds: float = Field(default=30.0, ge=0, description="How long a hang lasts.")

    @classmethod
    def text(cls, content: str, **kwargs: Any) -> Reply:
        return cls(content=content, **kwargs)

    @classmethod
    def tool(cls, name: str, arguments: dict[str, Any] | str, **kwargs: Any) -> Reply:
        return cls(tool_calls=[ToolCall(name=name, arguments=arguments)], **kwargs)

    @classmethod
    def error(cls, status: int, message: str | None = None) -> Reply:
        return cls(status=status, content=message)

    def resolved_finish_reason(self) -> str:
        if self.finish_reason:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


class ScriptsPayload(BaseModel):
    """The body of ``POST /_scripts/{name}``."""

    replies: list[Reply]


def message_text(messages: Any) -> str:
    """All text of a chat request's messages, in order (string or content-part form)."""
    parts: list[str] = []
    for message in messages if isinstance(messages, list) else []:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(
                str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
            )
    return "\n".join(parts)


def script_name_for(body: dict[str, Any]) -> str:
    """The last ``[[script:NAME]]`` marker in the messages, else ``default``.

    The last one, so that a conversation continued with a new marker (a follow-up prompt
    in the same session) switches to the new script while its history still holds the old.
    """
    matches = SCRIPT_MARKER.findall(message_text(body.get("messages")))
    return str(matches[-1]) if matches else DEFAULT_SCRIPT


class ScriptBook:
    """Queued replies and received requests per script; shared by the server thread and tests."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, deque[Reply]] = defaultdict(deque)
        self._requests: list[tuple[str, dict[str, Any]]] = []

    def set_script(self, name: str, replies: list[Reply]) -> None:
        with self._lock:
            self._queues[name] = deque(replies)

    def reset(self) -> None:
        with self._lock:
            self._queues.clear()
            self._requests.clear()

    def take(self, body: dict[str, Any]) -> tuple[str, Reply]:
        """Record the request and pop its script's next reply (a fixed text when exhausted)."""
        name = script_name_for(body)
        with self._lock:
            self._requests.append((name, body))
            queue = self._queues.get(name)
            if queue:
                return name, queue.popleft()
        return name, Reply(content=f"(fake provider: script {name} exhausted)")

    def requests(self, name: str | None = None) -> list[dict[str, Any]]:
        with self._lock:
            return [body for script, body in self._requests if name is None or script == name]
