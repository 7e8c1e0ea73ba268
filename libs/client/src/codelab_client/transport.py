"""The gateway WebSocket as an ACP transport, watched for ``seq`` numbers and closure."""

from __future__ import annotations

import asyncio
from typing import Any

import websockets
from acp._transport import Transport
from acp.ws import create_websocket_stream
from pydantic import SecretStr

from codelab_client.dpop import authorization_headers
from codelab_client.errors import AuthError, ConnectionFailed
from codelab_client.settings import acp_http_url, acp_url
from codelab_common.protocol import META_NAMESPACE, META_SEQ


def seq_of(message: dict[str, Any]) -> int | None:
    """``_meta.codelab.seq`` at the top level, in ``params`` or in ``result``."""
    for holder in (message, message.get("params"), message.get("result")):
        if not isinstance(holder, dict):
            continue
        meta = holder.get("_meta")
        ours = meta.get(META_NAMESPACE) if isinstance(meta, dict) else None
        value = ours.get(META_SEQ) if isinstance(ours, dict) else None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    return None


class WatchedTransport:
    """Wraps the SDK's WebSocket transport: tracks the highest ``seq`` and the socket's end."""

    def __init__(self, inner: Transport, last_seq: int | None = None) -> None:
        self.inner = inner
        self.last_seq = last_seq
        self.closed = asyncio.Event()

    async def send(self, message: dict[str, Any]) -> None:
        try:
            await self.inner.send(message)
        except websockets.ConnectionClosed as exc:
            # The SDK rejects pending requests on ConnectionError; speak its language.
            self.closed.set()
            raise ConnectionError(str(exc)) from exc

    async def receive(self) -> dict[str, Any] | None:
        message = await self.inner.receive()
        if message is None:
            self.closed.set()
            return None
        seq = seq_of(message)
        if seq is not None and (self.last_seq is None or seq > self.last_seq):
            self.last_seq = seq
        return message

    async def close(self) -> None:
        self.closed.set()
        await self.inner.close()

    @property
    def close_code(self) -> int | None:
        # The SDK transport keeps the websockets connection private; the close code
        # is only for telling the user why, so a missing attribute just means "unknown".
        connection = getattr(self.inner, "_ws", None)
        code = getattr(connection, "close_code", None)
        return code if isinstance(code, int) else None


async def open_transport(
    server: str, token: SecretStr, last_seq: int | None = None
) -> WatchedTransport:
    """Connect to ``{server}/acp`` with the bearer token on the upgrade request."""
    url = acp_url(server)
    headers = authorization_headers(token, "GET", acp_http_url(server))
    try:
        inner = await create_websocket_stream(url, headers=headers)
    except websockets.InvalidStatus as exc:
        status = exc.response.status_code
        if status in (401, 403):
            raise AuthError(
                f"{url} refused the token (HTTP {status}): run `codelab login`"
            ) from exc
        raise ConnectionFailed(f"{url} refused the connection (HTTP {status})") from exc
    except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
        raise ConnectionFailed(f"cannot connect to {url}: {exc}") from exc
    return WatchedTransport(inner, last_seq)
