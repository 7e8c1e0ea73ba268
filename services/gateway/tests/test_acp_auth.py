"""The upgrade is refused with HTTP 401 before any WebSocket exists; expiry closes with 4408."""

from __future__ import annotations

import asyncio
import base64
import json

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from codelab_testing.tokens import TestIssuer


def _unsigned(issuer: TestIssuer) -> str:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    header = {"alg": "none", "kid": issuer.kid, "typ": "at+jwt"}
    return f"{part(header)}.{part(issuer.claims())}."


@pytest.mark.parametrize("case", ["missing", "garbage", "alg_none", "wrong_audience", "foreign"])
async def test_upgrade_is_refused_with_401(gateway: str, issuer: TestIssuer, case: str) -> None:
    tokens = {
        "garbage": "not-a-jwt",
        "alg_none": _unsigned(issuer),
        "wrong_audience": issuer.token(audience="codelab-llm-proxy"),
        "foreign": TestIssuer().token(header={"kid": issuer.kid}),
    }
    headers = {"Authorization": f"Bearer {tokens[case]}"} if case in tokens else {}
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"ws://{gateway}/acp", additional_headers=headers):
            pass
    response = refused.value.response
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert json.loads(response.body)["status"] == 401


async def test_query_token_is_accepted(gateway: str, issuer: TestIssuer) -> None:
    url = f"ws://{gateway}/acp?access_token={issuer.token()}"
    async with websockets.connect(url) as ws:
        await ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "authenticate"}))
        assert json.loads(await ws.recv()) == {"jsonrpc": "2.0", "id": 1, "result": {}}


async def test_auth_failures_are_counted(gateway: str) -> None:
    with pytest.raises(InvalidStatus):
        async with websockets.connect(f"ws://{gateway}/acp"):
            pass
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"http://{gateway}/metrics")).text
    assert 'codelab_gateway_auth_failures_total{reason="missing",transport="acp"} 1.0' in metrics


async def test_connection_closes_with_4408_when_the_token_expires(
    gateway: str, issuer: TestIssuer
) -> None:
    headers = {"Authorization": f"Bearer {issuer.token(ttl=1)}"}
    async with websockets.connect(f"ws://{gateway}/acp", additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 4408
