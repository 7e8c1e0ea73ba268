"""``codelab acp``: an ACP stdio agent for editors, relaying to the gateway WebSocket.

A transparent relay: each stdin line goes out as one text frame, each frame comes back
as one stdout line. Messages are not parsed except to re-frame a frame that contains a
raw newline (legal JSON whitespace, fatal to newline-delimited framing). stdout is the
protocol, so every diagnostic goes to stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from typing import TextIO

import websockets
from pydantic import SecretStr
from websockets.asyncio.client import ClientConnection, connect

from codelab_client.dpop import authorization_headers
from codelab_client.errors import ExitCode
from codelab_client.settings import acp_http_url, acp_url
from codelab_common.protocol import CloseCode

logger = logging.getLogger(__name__)
STDIN_LIMIT = 50 * 1024 * 1024  # ACP messages can carry whole files and images
_AUTH_CODES = {int(CloseCode.UNAUTHORIZED), int(CloseCode.TOKEN_EXPIRED)}


async def _stdin_to_socket(reader: asyncio.StreamReader, ws: ClientConnection) -> None:
    while line := await reader.readline():
        text = line.decode("utf-8", errors="replace").strip()
        if text:
            await ws.send(text)


async def _socket_to_stdout(ws: ClientConnection, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for frame in ws:
            if isinstance(frame, bytes):
                continue  # ACP is text frames only
            if "\n" in frame or "\r" in frame:
                frame = json.dumps(json.loads(frame), separators=(",", ":"), ensure_ascii=False)
            writer.write(frame.encode("utf-8") + b"\n")
            await writer.drain()


async def stdio_streams() -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """stdin/stdout as asyncio streams (POSIX).

    ``acp.stdio_streams`` does the same, but importing ``acp`` builds its whole schema
    (~1 s); an editor starts this bridge for every agent session, so it stays acp-free.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=STDIN_LIMIT)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    transport, protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, sys.stdout
    )
    writer = asyncio.StreamWriter(transport, protocol, None, loop)
    return reader, writer


def close_message(code: int | None, reason: str) -> tuple[ExitCode, str]:
    """What to tell the user when the gateway closes the socket, and the exit code."""
    suffix = f": {reason}" if reason else ""
    if code in _AUTH_CODES:
        return (
            ExitCode.AUTH,
            f"codelab: the server closed the connection ({code}{suffix}); run `codelab login`",
        )
    if code in (None, int(CloseCode.NORMAL), int(CloseCode.GOING_AWAY)):
        return ExitCode.OK, f"codelab: the server closed the connection ({code}{suffix})"
    return ExitCode.ERROR, f"codelab: the server closed the connection ({code}{suffix})"


async def run_bridge(server: str, token: SecretStr, err: TextIO) -> ExitCode:
    """Relay stdio ⇄ ``{server}/acp`` until stdin closes or the socket closes."""
    url = acp_url(server)
    headers = authorization_headers(token, "GET", acp_http_url(server))
    try:
        ws = await connect(url, additional_headers=headers, max_size=None)
    except websockets.InvalidStatus as exc:
        status = exc.response.status_code
        hint = "; run `codelab login`" if status in (401, 403) else ""
        err.write(f"codelab: {url} refused the connection (HTTP {status}){hint}\n")
        return ExitCode.AUTH if status in (401, 403) else ExitCode.ERROR
    except (OSError, websockets.InvalidHandshake, TimeoutError) as exc:
        err.write(f"codelab: cannot connect to {url}: {exc}\n")
        return ExitCode.ERROR
    reader, writer = await stdio_streams()
    up = asyncio.ensure_future(_stdin_to_socket(reader, ws))
    down = asyncio.ensure_future(_socket_to_stdout(ws, writer))
    try:
        done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        if up in done and not down.done() and up.exception() is None:
            logger.debug("stdin closed; closing the socket")
            await ws.close()
            return ExitCode.OK
        exit_code, message = close_message(ws.close_code, ws.close_reason or "")
        err.write(message + "\n")
        return exit_code
    finally:
        for task in (up, down):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await ws.close()
