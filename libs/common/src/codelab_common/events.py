"""The runtime's event vocabulary: typed, immutable facts about sessions and turns.

Every event names its ``session_id`` and the ``correlation_id`` of the prompt turn it
belongs to (``None`` for facts outside a turn, such as ``session.created``). The union
:data:`Event` is discriminated on ``type`` and :data:`EVENT_ADAPTER` (de)serialises it,
so an event can leave the process (audit log, a future broker) and come back typed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from opentelemetry import trace
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


def _now() -> datetime:
    return datetime.now(UTC)


def current_trace_id() -> str | None:
    """The active OpenTelemetry trace id (hex), so an event joins the trace it happened in."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


class BaseEvent(BaseModel):
    """Fields every event carries."""

    model_config = ConfigDict(frozen=True)

    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: datetime = Field(default_factory=_now)
    session_id: str
    correlation_id: str | None = None
    # The task (a prompt turn's top-level task, or a subtask) the fact belongs to.
    task_id: str | None = None
    trace_id: str | None = Field(default_factory=current_trace_id)


class SessionCreated(BaseEvent):
    """A new session was opened (``session/new``)."""

    type: Literal["session.created"] = "session.created"
    owner: str
    cwd: str
    mode: str


class SessionResumed(BaseEvent):
    """A replica took over a session and restored it from storage."""

    type: Literal["session.resumed"] = "session.resumed"
    owner: str
    mode: str
    message_count: int
    instance_id: str


class UserMessage(BaseEvent):
    """The user's prompt for a turn; ``message`` is the chat message as sent to the model."""

    type: Literal["message.user"] = "message.user"
    text: str
    message: dict[str, Any]


class AgentMessage(BaseEvent):
    """One assistant message of a turn (text and/or tool calls)."""

    type: Literal["message.agent"] = "message.agent"
    agent: str
    text: str
    tool_call_count: int = 0
    message: dict[str, Any]


class ToolMessage(BaseEvent):
    """The result of a tool call, as fed back to the model."""

    type: Literal["message.tool"] = "message.tool"
    agent: str
    tool_call_id: str
    message: dict[str, Any]


class ModeSwitched(BaseEvent):
    """The session's current agent changed, by the model (``switch_mode``) or the user."""

    type: Literal["mode.switched"] = "mode.switched"
    from_mode: str
    to_mode: str
    reason: str = ""
    by: Literal["agent", "user"] = "agent"


class ToolRequested(BaseEvent):
    """The model asked for a tool call."""

    type: Literal["tool.requested"] = "tool.requested"
    tool_call_id: str
    tool: str
    agent: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class ToolApproved(BaseEvent):
    """A tool call may run (by policy or by the user)."""

    type: Literal["tool.approved"] = "tool.approved"
    tool_call_id: str
    tool: str
    by: Literal["policy", "user", "allowlist"] = "policy"


class ToolRejected(BaseEvent):
    """A tool call will not run: the user said no, or the agent may not use it."""

    type: Literal["tool.rejected"] = "tool.rejected"
    tool_call_id: str
    tool: str
    reason: Literal["user", "not_allowed", "invalid_arguments", "superseded"]
    detail: str = ""


class ToolCompleted(BaseEvent):
    """A tool call ran to completion."""

    type: Literal["tool.completed"] = "tool.completed"
    tool_call_id: str
    tool: str
    duration_ms: float


class ToolFailed(BaseEvent):
    """A tool call ran and failed (the client reported an error, a timeout...)."""

    type: Literal["tool.failed"] = "tool.failed"
    tool_call_id: str
    tool: str
    error: str
    duration_ms: float


class ApprovalRequested(BaseEvent):
    """The user was asked to approve a tool call."""

    type: Literal["approval.requested"] = "approval.requested"
    tool_call_id: str
    tool: str
    request_id: str | None = None


class ApprovalResolved(BaseEvent):
    """The user answered an approval request (``outcome`` is the chosen option or cancelled)."""

    type: Literal["approval.resolved"] = "approval.resolved"
    tool_call_id: str
    tool: str
    outcome: str
    approved: bool
    wait_ms: float = 0.0
    # Set when the answer was "allow always": what the session now allows without asking.
    always_key: str | None = None


class LlmCallStarted(BaseEvent):
    """A model call began."""

    type: Literal["llm.call.started"] = "llm.call.started"
    agent: str
    model: str
    call_index: int


class LlmCallCompleted(BaseEvent):
    """A model call finished; token counts as reported by the model (0 if unknown)."""

    type: Literal["llm.call.completed"] = "llm.call.completed"
    agent: str
    model: str
    finish_reason: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    duration_ms: float = 0.0


class LlmCallFailed(BaseEvent):
    """A model call failed."""

    type: Literal["llm.call.failed"] = "llm.call.failed"
    agent: str
    model: str
    error: str


class TaskStarted(BaseEvent):
    """A prompt turn began."""

    type: Literal["task.started"] = "task.started"
    agent: str


class TaskCompleted(BaseEvent):
    """A prompt turn ended normally (``stop_reason`` as in ACP)."""

    type: Literal["task.completed"] = "task.completed"
    stop_reason: str
    model_calls: int


class TaskCancelled(BaseEvent):
    """A prompt turn was cancelled by the client."""

    type: Literal["task.cancelled"] = "task.cancelled"


class TaskFailed(BaseEvent):
    """A prompt turn ended in an error."""

    type: Literal["task.failed"] = "task.failed"
    error: str


class PlanUpdated(BaseEvent):
    """The agent wrote the session's plan (the whole list, as sent to the client)."""

    type: Literal["plan.updated"] = "plan.updated"
    agent: str
    entries: list[dict[str, Any]]


class SubtaskStarted(BaseEvent):
    """A subtask began (``new_task``) in ``mode``; ``task_id`` is the child's id."""

    type: Literal["subtask.started"] = "subtask.started"
    parent_task_id: str | None
    parent_tool_call_id: str
    mode: str
    resumed: bool = False


class SubtaskReturned(BaseEvent):
    """A subtask ended and its result went back to the parent."""

    type: Literal["subtask.returned"] = "subtask.returned"
    parent_task_id: str | None
    mode: str
    outcome: Literal["completed", "failed"]
    result: str


class ContextCondensed(BaseEvent):
    """Older turns were replaced by a summary to stay within the model's context window."""

    type: Literal["context.condensed"] = "context.condensed"
    agent: str
    messages_before: int
    messages_after: int
    tokens_before: int
    tokens_after: int


class UsageReported(BaseEvent):
    """Token usage of one prompt turn and of the session so far."""

    type: Literal["usage.reported"] = "usage.reported"
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float = 0.0
    session_prompt_tokens: int
    session_completion_tokens: int


Event = Annotated[
    SessionCreated
    | SessionResumed
    | UserMessage
    | AgentMessage
    | ToolMessage
    | ModeSwitched
    | ToolRequested
    | ToolApproved
    | ToolRejected
    | ToolCompleted
    | ToolFailed
    | ApprovalRequested
    | ApprovalResolved
    | LlmCallStarted
    | LlmCallCompleted
    | LlmCallFailed
    | TaskStarted
    | TaskCompleted
    | TaskCancelled
    | TaskFailed
    | PlanUpdated
    | SubtaskStarted
    | SubtaskReturned
    | ContextCondensed
    | UsageReported,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
