"""REST + SSE: the same sessions and event stream as the ACP socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from codelab_gateway.app import create_app
from codelab_gateway.settings import GatewaySettings
from codelab_testing.tokens import TestIssuer

from .conftest import Connect, ScriptedRuntime, serve

CWD = "/srv/app"


class Api:
    """An HTTP client for one user against one gateway."""

    def __init__(self, http: httpx.AsyncClient, token: str) -> None:
        self.http = http
        self.headers = {"Authorization": f"Bearer {token}"}

    async def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return await self.http.post(path, json=body, headers=self.headers)

    async def create(self) -> str:
        response = await self.post("/v1/sessions", {"cwd": CWD, "mcpServers": []})
        assert response.status_code == 201, response.text
        session_id: str = response.json()["sessionId"]
        return session_id

    async def events(
        self, session_id: str, count: int, headers: dict[str, str] | None = None, query: str = ""
    ) -> list[dict[str, Any]]:
        """The first ``count`` events of the stream, as {id, event, data}."""
        url = f"/v1/sessions/{session_id}/events{query}"
        events: list[dict[str, Any]] = []
        async with self.http.stream("GET", url, headers={**self.headers, **(headers or {})}) as r:
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/event-stream")
            async with asyncio.timeout(5):
                async for event in _parse(r.aiter_lines()):
                    events.append(event)
                    if len(events) == count:
                        break
        return events


async def _parse(lines: AsyncIterator[str]) -> AsyncIterator[dict[str, Any]]:
    event: dict[str, Any] = {}
    async for line in lines:
        if not line:
            if "data" in event:
                yield event
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(": ")
            event[name] = json.loads(value) if name == "data" else value


@pytest.fixture
async def http(gateway: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"http://{gateway}") as client:
        yield client


@pytest.fixture
def alice(http: httpx.AsyncClient, issuer: TestIssuer) -> Api:
    return Api(http, issuer.token(sub="alice"))


async def test_create_prompt_and_read_events(alice: Api, runtime: ScriptedRuntime) -> None:
    response = await alice.post("/v1/sessions", {"cwd": CWD, "mcpServers": []})
    assert response.status_code == 201
    created = response.json()
    session_id = created["sessionId"]
    assert created["modes"]["currentModeId"] == "orchestrator"
    assert response.headers["location"] == f"/v1/sessions/{session_id}"
    accepted = await alice.post(f"/v1/sessions/{session_id}/prompt", {"text": "hello"})
    assert accepted.status_code == 202
    request_id = accepted.json()["requestId"]
    events = await alice.events(session_id, 3)
    assert [(e["id"], e["event"]) for e in events] == [
        ("1", "response"),
        ("2", "session/update"),
        ("3", "response"),
    ]
    assert events[1]["data"]["params"]["update"]["content"]["text"] == "echo: hello"
    assert events[2]["data"]["id"] == request_id
    assert events[2]["data"]["result"]["_meta"]["codelab"]["seq"] == 3
    prompt = runtime.inputs[1][1].message
    assert prompt["params"]["prompt"] == [{"type": "text", "text": "hello"}]


async def test_events_resume_after_last_event_id_or_query(
    alice: Api, runtime: ScriptedRuntime
) -> None:
    session_id = await alice.create()
    await alice.post(f"/v1/sessions/{session_id}/prompt", {"text": "one"})
    resumed = await alice.events(session_id, 2, headers={"Last-Event-ID": "1"})
    assert [e["id"] for e in resumed] == ["2", "3"]
    assert [e["id"] for e in await alice.events(session_id, 1, query="?after=2")] == ["3"]


async def test_agent_request_answered_through_responses_endpoint(
    alice: Api, runtime: ScriptedRuntime
) -> None:
    session_id = await alice.create()
    blocks = [{"type": "text", "text": "read /srv/app/README"}]
    await alice.post(f"/v1/sessions/{session_id}/prompt", {"prompt": blocks})
    ask = (await alice.events(session_id, 1, query="?after=1"))[0]
    assert ask["event"] == "fs/read_text_file"
    answer = await alice.post(
        f"/v1/sessions/{session_id}/responses/{ask['data']['id']}", {"result": {"content": "hi"}}
    )
    assert answer.status_code == 202
    events = await alice.events(session_id, 2, query="?after=2")
    assert events[0]["data"]["params"]["update"]["content"]["text"] == "file says: hi"
    assert events[1]["data"]["result"]["stopReason"] == "end_turn"


async def test_cancel_posts_a_notification(alice: Api, runtime: ScriptedRuntime) -> None:
    session_id = await alice.create()
    assert (await alice.post(f"/v1/sessions/{session_id}/cancel")).status_code == 202
    await runtime.wait_for(lambda: len(runtime.inputs) == 2)
    cancel = dict(runtime.inputs[1][1].message)
    params = dict(cancel.pop("params"))
    # With tracing on in this process the relay adds its trace context, and nothing else.
    assert set(params.pop("_meta", {})) <= {"traceparent", "tracestate"}
    assert cancel == {"jsonrpc": "2.0", "method": "session/cancel"}
    assert params == {"sessionId": session_id}


async def test_access_rules(
    alice: Api, http: httpx.AsyncClient, issuer: TestIssuer, runtime: ScriptedRuntime
) -> None:
    session_id = await alice.create()
    prompt_path = f"/v1/sessions/{session_id}/prompt"
    anonymous = await http.post(prompt_path, json={"text": "x"})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    bob = Api(http, issuer.token(sub="bob"))
    assert (await bob.post(prompt_path, {"text": "x"})).status_code == 403
    forbidden = await http.get(f"/v1/sessions/{session_id}/events", headers=bob.headers)
    assert forbidden.status_code == 403
    viewer = Api(http, issuer.token(sub="alice", scope="sessions:read", roles=["viewer"]))
    assert (await viewer.post(prompt_path, {"text": "x"})).status_code == 403
    assert [e["id"] for e in await viewer.events(session_id, 1)] == ["1"]
    missing = await alice.post("/v1/sessions/sess_nope/prompt", {"text": "x"})
    assert missing.status_code == 404
    assert (await alice.post("/v1/sessions", {"cwd": "relative"})).status_code == 422
    assert len(runtime.inputs) == 1


async def test_create_times_out_without_a_runtime(
    settings: GatewaySettings, issuer: TestIssuer
) -> None:
    fast = settings.model_copy(update={"session_create_timeout": 0.3})
    async with serve(create_app(fast)) as address, httpx.AsyncClient() as http:
        api = Api(http, issuer.token())
        response = await api.post(f"http://{address}/v1/sessions", {"cwd": CWD})
    assert response.status_code == 504
    assert response.json()["code"] == "runtime_timeout"


async def test_session_started_over_sse_continues_over_acp(
    alice: Api, gateway: str, connect: Connect, runtime: ScriptedRuntime
) -> None:
    session_id = await alice.create()
    async with connect(gateway, sub="alice") as client:
        await client.request(1, "session/load", {"sessionId": session_id, "cwd": CWD})
        replayed = await client.until(lambda m: m.get("id") == 1)
        prompt = [{"type": "text", "text": "over acp"}]
        await client.request(2, "session/prompt", {"sessionId": session_id, "prompt": prompt})
        await client.response(2)
    assert replayed[0]["method"] == "_codelab/response"
    assert replayed[0]["params"]["response"]["id"].startswith("sse:")
    events = await alice.events(session_id, 2, query="?after=2")
    assert events[0]["data"]["params"]["update"]["content"]["text"] == "echo: over acp"


async def test_readiness_and_metrics(http: httpx.AsyncClient) -> None:
    ready = await http.get("/readyz")
    assert ready.json() == {"status": "ready", "checks": {"redis": "ok", "jwks": "ok"}}
    metrics = (await http.get("/metrics")).text
    for name in (
        "codelab_gateway_websocket_connections",
        "codelab_gateway_sse_streams",
        "codelab_gateway_messages_relayed_total",
    ):
        assert name in metrics
