"""The model seam: what the agent loop needs from a chat model, and nothing more.

A :class:`ChatModel` streams :data:`ModelEvent` values for one call. Tool calls arrive
as deltas keyed by index (the OpenAI streaming shape); :class:`ToolCallAssembler` puts
them back together, so every model implementation can stream the same way.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of assistant text, to forward to the client as it arrives."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of the tool call at ``index``: id and name come once, arguments in parts."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class UsageReport:
    """Token usage of the call, if the model reports it; its cost when the llm-proxy says."""

    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None = None


@dataclass(frozen=True, slots=True)
class Finish:
    """The call ended; ``reason`` as OpenAI reports it (stop, tool_calls, length...)."""

    reason: str


ModelEvent = TextDelta | ToolCallDelta | UsageReport | Finish


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """One model call: OpenAI-format messages and function tools, plus who is asking."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]]
    session_id: str
    agent: str
    correlation_id: str


class ChatModel(Protocol):
    """Anything that can stream a chat completion."""

    name: str

    def stream(self, request: ChatRequest) -> AsyncIterator[ModelEvent]: ...


@dataclass(slots=True)
class AssembledToolCall:
    """A complete tool call: id, function name and its raw JSON argument string."""

    id: str
    name: str
    arguments: str = ""

    def as_message_part(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(slots=True)
class ToolCallAssembler:
    """Reassembles streamed tool-call deltas by index, in index order."""

    _calls: dict[int, AssembledToolCall] = field(default_factory=dict)

    def add(self, delta: ToolCallDelta) -> None:
        call = self._calls.get(delta.index)
        if call is None:
            call = AssembledToolCall(id=delta.id or f"call_{delta.index}", name=delta.name or "")
            self._calls[delta.index] = call
        else:
            if delta.id:
                call.id = delta.id
            if delta.name:
                call.name = delta.name
        call.arguments += delta.arguments

    def calls(self) -> list[AssembledToolCall]:
        return [self._calls[i] for i in sorted(self._calls)]
