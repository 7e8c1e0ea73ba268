"""DPoP-bound tokens (RFC 9449) on the REST/SSE routes; bearer tokens keep working."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import pytest
import websockets
from joserfc import jwt
from joserfc.jwk import ECKey
from websockets.exceptions import InvalidStatus

from codelab_common.dpop import access_token_hash
from codelab_testing.tokens import TestIssuer

PUBLIC = "http://localhost:8080"


def proof(key: ECKey, token: str, path: str, **claims: Any) -> str:
    head = {"typ": "dpop+jwt", "alg": "ES256", "jwk": key.as_dict(private=False)}
    body = {
        "htm": "GET",
        "htu": f"{PUBLIC}{path}",
        "iat": int(time.time()),
        "jti": uuid.uuid4().hex,
        "ath": access_token_hash(token),
        **claims,
    }
    return jwt.encode(head, body, key)


async def test_dpop_bound_token_with_and_without_its_proof(
    gateway: str, issuer: TestIssuer
) -> None:
    key = ECKey.generate_key("P-256")
    token = issuer.token(cnf={"jkt": key.thumbprint()})
    path = "/v1/sessions/sess_unknown/events"
    async with httpx.AsyncClient(base_url=f"http://{gateway}") as http:
        bound = await http.get(
            path, headers={"Authorization": f"DPoP {token}", "DPoP": proof(key, token, path)}
        )
        assert bound.status_code == 404  # authenticated; the session does not exist
        as_bearer = await http.get(path, headers={"Authorization": f"Bearer {token}"})
        assert as_bearer.status_code == 401
        no_proof = await http.get(path, headers={"Authorization": f"DPoP {token}"})
        assert no_proof.status_code == 401
        other = ECKey.generate_key("P-256")
        stolen = await http.get(
            path, headers={"Authorization": f"DPoP {token}", "DPoP": proof(other, token, path)}
        )
        assert stolen.status_code == 401
        wrong_url = await http.get(
            path,
            headers={"Authorization": f"DPoP {token}", "DPoP": proof(key, token, "/v1/other")},
        )
        assert wrong_url.status_code == 401
        plain = issuer.token()
        bearer = await http.get(path, headers={"Authorization": f"Bearer {plain}"})
        assert bearer.status_code == 404


async def test_acp_upgrade_with_a_dpop_bound_token(gateway: str, issuer: TestIssuer) -> None:
    key = ECKey.generate_key("P-256")
    token = issuer.token(cnf={"jkt": key.thumbprint()})
    headers = {"Authorization": f"DPoP {token}", "DPoP": proof(key, token, "/acp")}
    async with websockets.connect(f"ws://{gateway}/acp", additional_headers=headers) as ws:
        await ws.send(
            json.dumps(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {"protocolVersion": 1},
                }
            )
        )
        answer = json.loads(await ws.recv())
        assert answer["id"] == 1
    bearer = {"Authorization": f"Bearer {token}"}
    with pytest.raises(InvalidStatus) as refused:
        async with websockets.connect(f"ws://{gateway}/acp", additional_headers=bearer):
            pass
    assert refused.value.response.status_code == 401
