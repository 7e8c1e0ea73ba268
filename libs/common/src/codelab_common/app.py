"""App-factory helpers: every service gets the same probes, metrics, errors and ids.

A service's ``create_app`` builds its own lifespan and routers, then calls
:func:`create_service_app` so that ``/healthz``, ``/readyz``, ``/metrics``,
problem+json errors and request/correlation ids behave the same everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from codelab_common.errors import CodelabError
from codelab_common.logging import correlation_id_var, request_id_var
from codelab_common.settings import ServiceSettings
from codelab_common.telemetry import setup_tracing

ReadinessCheck = Callable[[], Awaitable[None]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

PROBLEM_JSON = "application/problem+json"
log = logging.getLogger(__name__)


class HttpMetrics:
    """Request count and latency per route template, in the app's own registry."""

    def __init__(self, registry: CollectorRegistry, service: str) -> None:
        self.requests = Counter(
            "codelab_http_requests",
            "HTTP requests handled",
            ["service", "method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "codelab_http_request_duration_seconds",
            "HTTP request latency",
            ["service", "method", "route"],
            registry=registry,
        )
        self.service = service


class RequestContextMiddleware:
    """Pure ASGI (so WebSocket and SSE pass untouched): ids in, ids out, metrics."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        request_id = headers.get("x-request-id") or uuid.uuid4().hex
        correlation_id = headers.get("x-correlation-id") or request_id
        rid_token = request_id_var.set(request_id)
        cid_token = correlation_id_var.set(correlation_id)
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_with_ids(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                extra = [
                    (b"x-request-id", request_id.encode()),
                    (b"x-correlation-id", correlation_id.encode()),
                ]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        finally:
            if scope["type"] == "http":
                route = scope.get("route")
                template = getattr(route, "path", None) or "unmatched"
                method = scope.get("method", "GET")
                self.metrics.requests.labels(
                    self.metrics.service, method, template, str(status_holder["status"])
                ).inc()
                self.metrics.latency.labels(self.metrics.service, method, template).observe(
                    time.perf_counter() - started
                )
            request_id_var.reset(rid_token)
            correlation_id_var.reset(cid_token)


def problem_response(error: CodelabError, instance: str | None = None) -> JSONResponse:
    """Render a :class:`CodelabError` as RFC 9457 problem details."""
    headers = {"WWW-Authenticate": 'Bearer realm="codelab"'} if error.status == 401 else None
    return JSONResponse(
        error.problem(instance), status_code=error.status, media_type=PROBLEM_JSON, headers=headers
    )


def _install_error_handlers(app: FastAPI) -> None:
    async def on_codelab_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, CodelabError)
        return problem_response(exc, str(request.url.path))

    async def on_validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        body = {
            "type": "https://codelab.dev/problems/validation_error",
            "title": "Invalid request",
            "status": 422,
            "detail": "The request does not match the schema",
            "code": "validation_error",
            "instance": str(request.url.path),
            "errors": errors,
        }
        return JSONResponse(body, status_code=422, media_type=PROBLEM_JSON)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        body = {
            "type": "about:blank",
            "title": str(exc.detail),
            "status": exc.status_code,
            "detail": str(exc.detail),
            "instance": str(request.url.path),
        }
        return JSONResponse(
            body, status_code=exc.status_code, media_type=PROBLEM_JSON, headers=exc.headers
        )

    async def on_unexpected(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s", request.url.path)
        return problem_response(CodelabError(), str(request.url.path))

    app.add_exception_handler(CodelabError, on_codelab_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)


def _install_probes(app: FastAPI, service: str) -> None:
    @app.get("/healthz", tags=["ops"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/readyz", tags=["ops"], summary="Readiness: every dependency answers")
    async def readyz() -> Response:
        checks: dict[str, ReadinessCheck] = app.state.readiness_checks
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                await asyncio.wait_for(check(), timeout=2.0)
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready", with the reason
                results[name] = f"failed: {type(exc).__name__}"
        ready = all(v == "ok" for v in results.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": results},
            status_code=200 if ready else 503,
        )

    @app.get("/metrics", tags=["ops"], summary="Prometheus metrics", include_in_schema=False)
    async def metrics() -> Response:
        registry: CollectorRegistry = app.state.metrics_registry
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _with_tracing(service: str, settings: ServiceSettings, lifespan: Lifespan | None) -> Lifespan:
    """Wrap a lifespan so tracing starts before it and is flushed after it."""

    @asynccontextmanager
    async def traced(app: FastAPI) -> AsyncIterator[None]:
        provider = setup_tracing(app, service, settings)
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            if provider is not None:
                provider.shutdown()

    return traced


def create_service_app(
    service: str,
    *,
    lifespan: Lifespan | None = None,
    settings: ServiceSettings | None = None,
    title: str | None = None,
    version: str = "0.1.0",
    **fastapi_kwargs: Any,
) -> FastAPI:
    """A FastAPI app with probes, metrics, problem+json errors and request ids.

    Register readiness checks with ``app.state.readiness_checks[name] = coro_fn``
    (usually in the lifespan), and service metrics against ``app.state.metrics_registry``.
    Pass ``settings`` to get OpenTelemetry tracing when ``OTEL_ENABLED`` is set.
    """
    if settings is not None:
        lifespan = _with_tracing(service, settings, lifespan)
    app = FastAPI(
        title=title or f"CodeLab {service}", version=version, lifespan=lifespan, **fastapi_kwargs
    )
    registry = CollectorRegistry(auto_describe=True)
    app.state.metrics_registry = registry
    app.state.readiness_checks = {}
    app.state.service_name = service
    app.add_middleware(RequestContextMiddleware, metrics=HttpMetrics(registry, service))
    _install_error_handlers(app)
    _install_probes(app, service)
    return app
