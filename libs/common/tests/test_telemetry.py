"""Tracing: off by default; when on, requests make spans and log lines carry the trace id."""

from __future__ import annotations

import json
import logging

import httpx
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from codelab_common.app import create_service_app
from codelab_common.logging import JsonFormatter
from codelab_common.settings import ServiceSettings
from codelab_common.telemetry import setup_tracing


def test_tracing_is_off_by_default() -> None:
    app = create_service_app("demo")
    assert setup_tracing(app, "demo", ServiceSettings()) is None


async def test_requests_become_spans_and_logs_carry_the_trace_id() -> None:
    app = create_service_app("demo")
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(JsonFormatter("demo").format(record))

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        logging.getLogger("demo").warning("serving %s", item_id)
        return {"id": item_id}

    exporter = InMemorySpanExporter()
    provider = setup_tracing(app, "demo", ServiceSettings(), exporter=exporter)
    assert provider is not None
    handler = Capture()
    logging.getLogger("demo").addHandler(handler)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://svc") as client:
            assert (await client.get("/items/3")).status_code == 200
            await client.get("/healthz")
        provider.force_flush()
    finally:
        logging.getLogger("demo").removeHandler(handler)
        provider.shutdown()
    spans = exporter.get_finished_spans()
    server = [
        s for s in spans if s.attributes and s.attributes.get("http.route") == "/items/{item_id}"
    ]
    assert server, [s.name for s in spans]
    assert not [s for s in spans if "healthz" in s.name]
    trace_id = format(server[0].context.trace_id, "032x")
    assert json.loads(lines[0])["trace_id"] == trace_id
