"""Contract tests: every event round-trips through the wire adapter; the bus isolates failures."""

from __future__ import annotations

import logging
import typing

import pytest

from codelab_common import events as ev
from codelab_common.eventbus import EventBus

SAMPLES: list[ev.BaseEvent] = [
    ev.SessionCreated(session_id="s", owner="u", cwd="/w", mode="orchestrator"),
    ev.SessionResumed(session_id="s", owner="u", mode="coder", message_count=3, instance_id="i"),
    ev.UserMessage(session_id="s", correlation_id="t", text="hi", message={"role": "user"}),
    ev.AgentMessage(session_id="s", correlation_id="t", agent="coder", text="ok", message={}),
    ev.ToolMessage(session_id="s", correlation_id="t", agent="coder", tool_call_id="c", message={}),
    ev.ModeSwitched(session_id="s", correlation_id="t", from_mode="a", to_mode="b", by="user"),
    ev.ToolRequested(session_id="s", tool_call_id="c", tool="read_file", agent="debug"),
    ev.ToolApproved(session_id="s", tool_call_id="c", tool="write_file", by="user"),
    ev.ToolRejected(session_id="s", tool_call_id="c", tool="write_file", reason="not_allowed"),
    ev.ToolCompleted(session_id="s", tool_call_id="c", tool="read_file", duration_ms=1.5),
    ev.ToolFailed(session_id="s", tool_call_id="c", tool="x", error="boom", duration_ms=2),
    ev.ApprovalRequested(session_id="s", tool_call_id="c", tool="run_command", request_id="rt:1"),
    ev.ApprovalResolved(session_id="s", tool_call_id="c", tool="t", outcome="allow", approved=True),
    ev.LlmCallStarted(session_id="s", agent="coder", model="m", call_index=1),
    ev.LlmCallCompleted(session_id="s", agent="coder", model="m", finish_reason="stop"),
    ev.LlmCallFailed(session_id="s", agent="coder", model="m", error="down"),
    ev.TaskStarted(session_id="s", correlation_id="t", agent="orchestrator"),
    ev.TaskCompleted(session_id="s", correlation_id="t", stop_reason="end_turn", model_calls=2),
    ev.TaskCancelled(session_id="s", correlation_id="t"),
    ev.TaskFailed(session_id="s", correlation_id="t", error="x"),
    ev.PlanUpdated(session_id="s", task_id="t", agent="orchestrator", entries=[{"content": "a"}]),
    ev.SubtaskStarted(
        session_id="s", task_id="c", parent_task_id="t", parent_tool_call_id="k", mode="coder"
    ),
    ev.SubtaskReturned(
        session_id="s",
        task_id="c",
        parent_task_id="t",
        mode="coder",
        outcome="completed",
        result="done",
    ),
    ev.ContextCondensed(
        session_id="s",
        agent="coder",
        messages_before=9,
        messages_after=3,
        tokens_before=900,
        tokens_after=200,
    ),
    ev.UsageReported(
        session_id="s",
        prompt_tokens=1,
        completion_tokens=2,
        session_prompt_tokens=3,
        session_completion_tokens=4,
    ),
]


def test_samples_cover_every_event_type() -> None:
    union_members = typing.get_args(typing.get_args(ev.Event)[0])
    assert {type(sample) for sample in SAMPLES} == set(union_members)
    assert len(union_members) >= 19


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: e.type)  # type: ignore[attr-defined]
def test_event_round_trips_through_json(event: ev.BaseEvent) -> None:
    wire = ev.EVENT_ADAPTER.dump_json(event)  # type: ignore[arg-type]
    back = ev.EVENT_ADAPTER.validate_json(wire)
    assert type(back) is type(event)
    assert back == event


def test_unknown_type_is_rejected() -> None:
    with pytest.raises(ValueError, match="does not match any of the expected tags"):
        ev.EVENT_ADAPTER.validate_python({"type": "nope", "session_id": "s"})


def test_events_have_ids_and_times() -> None:
    a = ev.TaskCancelled(session_id="s")
    b = ev.TaskCancelled(session_id="s")
    assert a.event_id != b.event_id
    assert a.occurred_at.tzinfo is not None


async def test_typed_subscription_and_catch_all() -> None:
    bus = EventBus()
    typed: list[ev.ToolCompleted] = []
    everything: list[ev.BaseEvent] = []
    bus.subscribe(ev.ToolCompleted, typed.append)
    bus.subscribe_all(everything.append)
    completed = ev.ToolCompleted(session_id="s", tool_call_id="c", tool="t", duration_ms=1)
    await bus.publish(completed)
    await bus.publish(ev.TaskCancelled(session_id="s"))
    assert typed == [completed]
    assert [e.type for e in everything] == ["tool.completed", "task.cancelled"]  # type: ignore[attr-defined]


async def test_failing_subscriber_is_logged_and_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    bus = EventBus()
    seen: list[str] = []

    async def broken(event: ev.BaseEvent) -> None:
        raise RuntimeError("subscriber bug")

    async def healthy(event: ev.BaseEvent) -> None:
        seen.append(event.session_id)

    bus.subscribe_all(broken)
    bus.subscribe_all(healthy)
    with caplog.at_level(logging.ERROR):
        await bus.publish(ev.TaskCancelled(session_id="s1"))
    assert seen == ["s1"]
    assert any("event subscriber failed" in r.getMessage() for r in caplog.records)


async def test_unsubscribe_stops_delivery() -> None:
    bus = EventBus()
    seen: list[ev.BaseEvent] = []
    unsubscribe = bus.subscribe(ev.TaskCancelled, seen.append)
    unsubscribe()
    await bus.publish(ev.TaskCancelled(session_id="s"))
    assert seen == []


def test_events_carry_the_active_trace_id() -> None:
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    assert ev.TaskCancelled(session_id="s").trace_id is None
    with tracer.start_as_current_span("turn") as span:
        event = ev.TaskCancelled(session_id="s")
    assert event.trace_id == format(span.get_span_context().trace_id, "032x")
