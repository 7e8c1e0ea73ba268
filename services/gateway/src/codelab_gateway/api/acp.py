"""``GET /acp``: the ACP WebSocket, authenticated on the upgrade request."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from fastapi import APIRouter, WebSocket

from codelab_common.app import problem_response
from codelab_common.errors import CodelabError
from codelab_common.protocol import CloseCode
from codelab_gateway.auth import dpop_token, token_from_request
from codelab_gateway.connection import AcpConnection
from codelab_gateway.dispatch import AcpDispatcher
from codelab_gateway.state import GatewayState

log = logging.getLogger(__name__)
router = APIRouter()
DENIAL_EXTENSION = "websocket.http.response"


async def _deny(websocket: WebSocket, error: CodelabError) -> None:
    """Refuse the upgrade with an HTTP status, or with a close code if the server cannot."""
    if DENIAL_EXTENSION in websocket.scope.get("extensions", {}):
        await websocket.send_denial_response(problem_response(error, "/acp"))
        return
    await websocket.accept()
    code = CloseCode.UNAUTHORIZED if error.status == 401 else CloseCode.TRY_AGAIN_LATER
    await websocket.close(int(code), error.code)


async def _receive_loop(
    websocket: WebSocket, connection: AcpConnection, dispatcher: AcpDispatcher, max_bytes: int
) -> None:
    while not connection.closed:
        frame = await websocket.receive()
        if frame["type"] == "websocket.disconnect":
            return
        text = frame.get("text")
        if text is None:
            await connection.close(CloseCode.BAD_MESSAGE, "ACP uses text frames")
            return
        if len(text) > max_bytes or len(text.encode()) > max_bytes:
            await connection.close(CloseCode.MESSAGE_TOO_BIG, "message too big")
            return
        await dispatcher.handle_text(text)


@router.websocket("/acp")
async def acp_socket(websocket: WebSocket) -> None:
    """One ACP client. Token from ``Authorization: Bearer`` or ``?access_token=``, or
    ``Authorization: DPoP`` with a proof for ``GET {public_url}/acp`` (the http(s) form)."""
    state: GatewayState = websocket.app.state.gateway
    settings = state.settings
    authorization = websocket.headers.get("authorization")
    token = token_from_request(
        authorization,
        websocket.query_params.get("access_token"),
        allow_query=settings.allow_query_token,
    )
    try:
        if (bound := dpop_token(authorization)) is not None:
            urls = [f"{base}{websocket.url.path}" for base in settings.public_urls]
            claims = await state.authenticator.authenticate_dpop(
                bound, websocket.headers.get("dpop"), method="GET", url=urls, transport="acp"
            )
        else:
            claims = await state.authenticator.authenticate(token, transport="acp")
    except CodelabError as exc:
        await _deny(websocket, exc)
        return
    await websocket.accept()
    connection = AcpConnection(
        websocket,
        claims,
        channel=state.channel,
        metrics=state.metrics,
        relay_block_ms=settings.relay_block_ms,
    )
    dispatcher = AcpDispatcher(
        connection, state.access, version=state.version, notice=state.settings.notice
    )
    state.metrics.ws_connections.inc()
    log.info("acp connection %s opened for %s", connection.id, claims.sub)
    tasks = [
        asyncio.create_task(
            _receive_loop(websocket, connection, dispatcher, settings.max_message_bytes)
        ),
        asyncio.create_task(connection.expire_at(claims.exp)),
        asyncio.create_task(connection.wait_closed()),
    ]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await connection.detach_all()
        await connection.close(CloseCode.NORMAL)
        state.metrics.ws_connections.dec()
        log.info("acp connection %s closed", connection.id)
