"""OpenTelemetry spans of model calls, named and attributed per the GenAI conventions.

Spans go to whatever tracer provider the process has; without one the API is a no-op.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer

if TYPE_CHECKING:
    from codelab_llm_proxy.usage import CallRecord

# Our call kinds as GenAI operation names; the semantic cache's lookups are embeddings
# (told apart by ``codelab.llm.kind``).
_OPERATIONS = {"chat": "chat", "embeddings": "embeddings", "cache-embedding": "embeddings"}


def default_tracer() -> Tracer:
    return trace.get_tracer("codelab_llm_proxy")


def start_span(tracer: Tracer, kind: str, model: str) -> Span:
    operation = _OPERATIONS.get(kind, kind)
    return tracer.start_span(
        f"{operation} {model}",
        kind=SpanKind.CLIENT,
        attributes={
            "gen_ai.operation.name": operation,
            "gen_ai.request.model": model,
            "codelab.llm.kind": kind,
        },
    )


def end_span(span: Span, record: CallRecord, outcome: str, error_code: str | None) -> None:
    if record.provider is not None:
        span.set_attribute("gen_ai.provider.name", record.provider)
    if record.cost_model is not None:
        span.set_attribute("gen_ai.response.model", record.cost_model.split("/", 1)[-1])
    span.set_attribute("gen_ai.usage.input_tokens", record.prompt_tokens)
    span.set_attribute("gen_ai.usage.output_tokens", record.completion_tokens)
    if record.deployment is not None:
        span.set_attribute("codelab.llm.deployment", record.deployment)
    if record.cache is not None:
        span.set_attribute("codelab.llm.cache", record.cache)
    if outcome == "error":
        span.set_attribute("error.type", error_code or "error")
        span.set_status(Status(StatusCode.ERROR, error_code))
    span.end()
