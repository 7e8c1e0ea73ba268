"""A scripted model for tests and demos: it plays back the responses it was given.

Like openai-agents' scripted fake model, each call pops the next
:class:`ScriptedResponse`; a response may also be a function of the request, so a
test can assert on what the model was shown (instructions, tools, history).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from codelab_runtime.model.base import (
    ChatRequest,
    Finish,
    ModelEvent,
    TextDelta,
    ToolCallDelta,
    UsageReport,
)


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    """A tool call the scripted model will make."""

    name: str
    arguments: dict[str, Any]
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ScriptedResponse:
    """One model answer: text chunks (streamed one by one) and/or tool calls."""

    text: list[str] = field(default_factory=list)
    tool_calls: list[ScriptedToolCall] = field(default_factory=list)
    finish_reason: str | None = None
    # Pause before each chunk, so tests can observe streaming or cancel mid-call.
    delay_s: float = 0.0
    error: Exception | None = None
    # What the call cost, as the llm-proxy reports it; None: not reported.
    cost_usd: float | None = None


Script = ScriptedResponse | Callable[[ChatRequest], ScriptedResponse]


class ScriptExhausted(AssertionError):
    """The code under test called the model more often than the script allows."""


class ScriptedChatModel:
    """A :class:`~codelab_runtime.model.base.ChatModel` that never touches the network."""

    name = "scripted"

    def __init__(self, responses: list[Script] | None = None) -> None:
        self._responses: list[Script] = list(responses or [])
        self.requests: list[ChatRequest] = []

    def add(self, *responses: Script) -> None:
        self._responses.extend(responses)

    @property
    def remaining(self) -> int:
        return len(self._responses)

    async def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]:
        self.requests.append(request)
        if not self._responses:
            raise ScriptExhausted(f"no scripted response left for call {len(self.requests)}")
        script = self._responses.pop(0)
        response = script(request) if callable(script) else script
        if response.error is not None:
            raise response.error
        for chunk in response.text:
            if response.delay_s:
                await asyncio.sleep(response.delay_s)
            yield TextDelta(chunk)
        for index, call in enumerate(response.tool_calls):
            arguments = json.dumps(call.arguments)
            half = len(arguments) // 2
            # Split the arguments so the loop's reassembly is exercised like a real stream.
            yield ToolCallDelta(index, call.id or f"call_{len(self.requests)}_{index}", call.name)
            yield ToolCallDelta(index, arguments=arguments[:half])
            yield ToolCallDelta(index, arguments=arguments[half:])
        yield UsageReport(prompt_tokens=10, completion_tokens=5, cost_usd=response.cost_usd)
        reason = response.finish_reason or ("tool_calls" if response.tool_calls else "stop")
        yield Finish(reason)
