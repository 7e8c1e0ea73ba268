"""Who may connect and what they may touch: refused tokens, foreign sessions."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import httpx
import pytest
import websockets
from acp import RequestError

from codelab_common.protocol import JsonRpcErrorCode
from codelab_testing.acp_driver import acp_connection
from codelab_testing.mesh_fixture import RunningMesh
from codelab_testing.tokens import TestIssuer


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _real_header(token: str) -> dict[str, object]:
    head = token.split(".")[0]
    return dict(json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))))


async def _upgrade_status(url: str, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with websockets.connect(url, additional_headers=headers):
            pass
    return refused.value.response.status_code


async def test_upgrade_without_token_is_401(mesh: RunningMesh) -> None:
    assert await _upgrade_status(mesh.ws_url, None) == 401


async def test_token_signed_by_another_key_is_401(mesh: RunningMesh) -> None:
    stranger = TestIssuer(issuer=mesh.config.issuer)
    assert await _upgrade_status(mesh.ws_url, stranger.token(sub="demo")) == 401


async def test_forged_kid_and_alg_none_are_401(mesh: RunningMesh) -> None:
    real = mesh.token("demo", "demo")
    kid = str(_real_header(real)["kid"])
    forged = TestIssuer(issuer=mesh.config.issuer).token(header={"kid": kid})
    assert await _upgrade_status(mesh.ws_url, forged) == 401
    claims = json.loads(base64.urlsafe_b64decode(real.split(".")[1] + "=="))
    unsigned = f"{_b64({'alg': 'none', 'kid': kid, 'typ': 'at+jwt'})}.{_b64(claims)}."
    assert await _upgrade_status(mesh.ws_url, unsigned) == 401


async def test_tampered_expiry_is_401(mesh: RunningMesh) -> None:
    """An expired token made valid-looking by editing `exp` fails the signature check."""
    real = mesh.token("demo", "demo")
    head, payload, signature = real.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["exp"] = int(claims["exp"]) + 86_400
    assert await _upgrade_status(mesh.ws_url, f"{head}.{_b64(claims)}.{signature}") == 401


async def test_sse_without_token_is_problem_json(mesh: RunningMesh) -> None:
    async with httpx.AsyncClient(base_url=mesh.public_url) as http:
        response = await http.post("/v1/sessions", json={"cwd": "/tmp"})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_user_cannot_touch_another_users_session(mesh: RunningMesh, tmp_path: Path) -> None:
    bob = f"bob-{uuid.uuid4().hex[:6]}"
    mesh.create_user(bob, "bob-password")
    alice_token = mesh.token("demo", "demo")
    bob_token = mesh.token(bob, "bob-password")
    async with acp_connection(mesh.ws_url, alice_token, tmp_path) as alice:
        session_id = await alice.new(tmp_path)
    async with acp_connection(mesh.ws_url, bob_token, tmp_path) as intruder:
        with pytest.raises(RequestError) as refused:
            await intruder.conn.load_session(cwd=str(tmp_path), session_id=session_id)
        assert refused.value.code == JsonRpcErrorCode.FORBIDDEN
        intruder.session_id = session_id
        with pytest.raises(RequestError) as refused_prompt:
            await intruder.prompt("let me in")
        assert refused_prompt.value.code == JsonRpcErrorCode.FORBIDDEN
    async with httpx.AsyncClient(
        base_url=mesh.public_url, headers={"Authorization": f"Bearer {bob_token}"}
    ) as http:
        prompt = await http.post(f"/v1/sessions/{session_id}/prompt", json={"text": "hi"})
        assert prompt.status_code == 403
        events = await http.get(f"/v1/sessions/{session_id}/events")
        assert events.status_code == 403
        unknown = await http.get("/v1/sessions/sess_doesnotexist/events")
        assert unknown.status_code == 404
