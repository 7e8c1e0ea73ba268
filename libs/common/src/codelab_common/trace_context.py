"""W3C trace context inside ACP messages, so one trace runs client → gateway → runtime.

ACP's convention for metadata that travels with a message is a root key of ``params._meta``
(``_meta.traceparent``, ``_meta.tracestate``), like MCP's. The gateway relays each client
message in a short span of its own, child of the client's context when the client sent one,
and writes that span's context into the message; the runtime continues the trace from it.
With tracing off nothing is added, and a client's own ``traceparent`` passes through.
"""

from __future__ import annotations

from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.trace import SpanKind, Tracer

TRACE_KEYS = ("traceparent", "tracestate")


def context_from_meta(meta: dict[str, Any]) -> Context:
    """The current context, continuing the trace a message's ``_meta`` (or an ACP
    handler's kwargs) carries, if it carries one."""
    carrier = {key: meta[key] for key in TRACE_KEYS if isinstance(meta.get(key), str)}
    return propagate.extract(carrier, context=otel_context.get_current())


def relayed_with_trace_context(
    message: dict[str, Any], tracer: Tracer | None = None
) -> dict[str, Any]:
    """``message`` with this hop's span context in ``params._meta`` (requests and
    notifications with an object ``params``; anything else is returned as it is)."""
    params = message.get("params")
    method = message.get("method")
    if not isinstance(params, dict) or not isinstance(method, str):
        return message
    meta = params.get("_meta")
    meta = meta if isinstance(meta, dict) else {}
    tracer = tracer or trace.get_tracer("codelab.relay")
    with tracer.start_as_current_span(
        f"relay {method}", context=context_from_meta(meta), kind=SpanKind.PRODUCER
    ) as span:
        if not span.get_span_context().is_valid:
            return message
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    return {**message, "params": {**params, "_meta": {**meta, **carrier}}}
