"""Trace context carried in ACP messages' ``params._meta``."""

from __future__ import annotations

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracer

from codelab_common.trace_context import relayed_with_trace_context

CLIENT_TRACE = "0af7651916cd43dd8448eb211c80319c"
CLIENT_PARENT = f"00-{CLIENT_TRACE}-b7ad6b7169203331-01"


def _prompt(meta: dict[str, object] | None = None) -> dict[str, object]:
    params: dict[str, object] = {"sessionId": "s", "prompt": []}
    if meta is not None:
        params["_meta"] = meta
    return {"jsonrpc": "2.0", "id": 1, "method": "session/prompt", "params": params}


def _tracing() -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def test_the_relay_span_continues_the_clients_trace() -> None:
    provider, exporter = _tracing()
    message = _prompt({"traceparent": CLIENT_PARENT, "codelab": {"lastSeq": 3}})
    relayed = relayed_with_trace_context(message, provider.get_tracer("test"))
    [span] = exporter.get_finished_spans()
    assert span.name == "relay session/prompt"
    assert format(span.context.trace_id, "032x") == CLIENT_TRACE
    assert span.parent is not None
    assert format(span.parent.span_id, "016x") == "b7ad6b7169203331"
    meta = relayed["params"]["_meta"]  # type: ignore[index]
    # The next hop's parent is the relay span; other _meta keys are kept.
    assert meta["traceparent"] == f"00-{CLIENT_TRACE}-{format(span.context.span_id, '016x')}-01"
    assert meta["codelab"] == {"lastSeq": 3}


def test_a_message_without_trace_context_starts_one_when_tracing_is_on() -> None:
    provider, exporter = _tracing()
    relayed = relayed_with_trace_context(_prompt(), provider.get_tracer("test"))
    [span] = exporter.get_finished_spans()
    assert span.parent is None
    trace_id = format(span.context.trace_id, "032x")
    assert relayed["params"]["_meta"]["traceparent"].split("-")[1] == trace_id  # type: ignore[index]


def test_with_tracing_off_nothing_is_added_and_the_clients_context_passes() -> None:
    off = NoOpTracer()
    bare = _prompt()
    assert relayed_with_trace_context(bare, off) == bare
    carried = _prompt({"traceparent": CLIENT_PARENT})
    assert relayed_with_trace_context(carried, off) == carried
    response = {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert relayed_with_trace_context(response, off) is response
