"""The shared app factory: probes, metrics, problem+json, request ids."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from codelab_common.app import create_service_app
from codelab_common.errors import Forbidden


def _app() -> FastAPI:
    app = create_service_app("demo")

    async def broken() -> None:
        raise ConnectionError("db down")

    async def fine() -> None:
        return None

    app.state.readiness_checks["fine"] = fine
    app.state.readiness_checks["db"] = broken

    @app.get("/forbidden")
    async def forbidden() -> None:
        raise Forbidden("not yours")

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret=hunter2 leaked?")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://svc") as c:
        yield c


async def test_healthz_and_readiness_report_each_check(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok", "service": "demo"}
    ready = await client.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["checks"] == {"fine": "ok", "db": "failed: ConnectionError"}


async def test_errors_are_problem_details(client: httpx.AsyncClient) -> None:
    response = await client.get("/forbidden")
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "forbidden"
    assert response.json()["detail"] == "not yours"
    invalid = await client.get("/items/abc")
    assert invalid.status_code == 422
    assert invalid.json()["errors"][0]["loc"] == ["path", "item_id"]
    missing = await client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_unexpected_error_does_not_leak_details(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    assert response.status_code == 500
    assert "hunter2" not in response.text


async def test_request_ids_and_metrics(client: httpx.AsyncClient) -> None:
    response = await client.get("/items/7", headers={"x-correlation-id": "turn-42"})
    assert response.headers["x-correlation-id"] == "turn-42"
    assert response.headers["x-request-id"]
    metrics = (await client.get("/metrics")).text
    assert 'route="/items/{item_id}"' in metrics
    assert "codelab_http_request_duration_seconds" in metrics
