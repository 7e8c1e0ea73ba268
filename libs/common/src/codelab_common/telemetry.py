"""OpenTelemetry tracing for a service: off by default, OTLP/HTTP when switched on.

When enabled, every HTTP request and WebSocket gets a server span (FastAPI instrumentation),
every outbound httpx call a client span with W3C trace context injected, and JSON log lines
carry the active ``trace_id`` (see :mod:`codelab_common.logging`).
"""

from __future__ import annotations

from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from codelab_common.settings import ServiceSettings


def setup_tracing(
    app: FastAPI,
    service: str,
    settings: ServiceSettings,
    *,
    exporter: SpanExporter | None = None,
) -> TracerProvider | None:
    """Instrument ``app`` if tracing is enabled (or an exporter is given, as tests do).

    The provider is set process-wide because OpenTelemetry's API is process-wide by
    design; a service process runs one app, so that is the app's provider. Shut it down
    in the lifespan exit so buffered spans are flushed.
    """
    if not settings.otel_enabled and exporter is None:
        return None
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: f"codelab-{service}"}))
    span_exporter = exporter or OTLPSpanExporter(
        endpoint=f"{settings.otlp_endpoint.rstrip('/')}/v1/traces"
    )
    provider.add_span_processor(BatchSpanProcessor(span_exporter))
    trace.set_tracer_provider(provider)
    FastAPIInstrumentor.instrument_app(
        app, tracer_provider=provider, excluded_urls="healthz,readyz,metrics"
    )
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    return provider
