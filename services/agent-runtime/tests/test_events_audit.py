"""Events carry task, correlation and trace ids; the audit table; usage per turn and session."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from runtime_helpers import EditorClient, Replica

from codelab_common import events as ev
from codelab_runtime.persistence.store import SessionStore
from codelab_runtime.testing import ScriptedResponse, ScriptedToolCall


@pytest.fixture(scope="module", autouse=True)
def _tracing() -> None:
    # OpenTelemetry's provider is process-wide by design; without one no span is recording.
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        trace.set_tracer_provider(TracerProvider())


async def test_audit_table_is_append_only_and_leaves_bodies_out(
    replica: Replica, client: EditorClient, store: SessionStore
) -> None:
    replica.model.add(
        ScriptedResponse(tool_calls=[ScriptedToolCall("switch_mode", {"mode": "ask"})]),
        ScriptedResponse(text=["secret-ish answer"]),
    )
    await client.new_session()
    await client.wait_response(await client.prompt("tell me the password"))
    rows = await store.tasks.audit_trail(client.session_id)
    types = [r.type for r in rows]
    assert types[0] == "session.created"
    assert {"message.user", "mode.switched", "tool.completed", "task.completed"} <= set(types)
    assert [r.event_id for r in rows] == [
        e.event_id for e in replica.events if e.session_id == client.session_id
    ]
    assert all("password" not in str(r.payload) for r in rows)
    assert all("secret-ish" not in str(r.payload) for r in rows)
    turn_rows = [r for r in rows if r.correlation_id is not None]
    assert turn_rows
    assert [r.type for r in turn_rows if r.task_id != r.correlation_id] == []
    # Every event of the turn belongs to the same trace.
    trace_ids = {r.trace_id for r in rows if r.type != "session.created"}
    assert len(trace_ids) == 1
    assert None not in trace_ids


async def test_usage_is_reported_per_turn_and_kept_per_session(
    replica: Replica, client: EditorClient, store: SessionStore
) -> None:
    replica.model.add(
        ScriptedResponse(
            tool_calls=[ScriptedToolCall("switch_mode", {"mode": "ask"})], cost_usd=0.25
        ),
        ScriptedResponse(text=["one"], cost_usd=0.5),
        ScriptedResponse(text=["two"], cost_usd=1.0),
    )
    await client.new_session()
    await client.wait_response(await client.prompt("first"))
    await client.wait_response(await client.prompt("second"))
    first, second = client.of_kind("usage_update")
    # The scripted model reports 10 prompt + 5 completion tokens per call.
    assert first["_meta"]["codelab"]["turnPromptTokens"] == 20
    assert second["_meta"]["codelab"]["turnCompletionTokens"] == 5
    assert second["_meta"]["codelab"]["sessionPromptTokens"] == 30
    # Cost as the llm-proxy reported it: per turn in our meta, per session in ACP's field.
    assert first["_meta"]["codelab"]["turnCostUsd"] == 0.75
    assert (first["cost"], second["cost"]) == (
        {"amount": 0.75, "currency": "USD"},
        {"amount": 1.75, "currency": "USD"},
    )
    assert second["size"] == 128_000
    assert 0 < first["used"] < second["used"]
    state = await store.load(client.session_id)
    assert state is not None
    assert (state.prompt_tokens, state.completion_tokens, state.cost_usd) == (30, 15, 1.75)
    reported = [e for e in replica.events if isinstance(e, ev.UsageReported)]
    assert [e.session_completion_tokens for e in reported] == [10, 15]


async def test_a_turn_continues_the_trace_its_prompt_carries(
    replica: Replica, client: EditorClient
) -> None:
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    replica.model.add(ScriptedResponse(text=["traced"]))
    await client.new_session()
    meta = {"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    await client.wait_response(await client.prompt("follow me", meta=meta))
    turn_events = [e for e in replica.events if e.correlation_id is not None]
    assert turn_events
    assert {e.trace_id for e in turn_events} == {trace_id}
