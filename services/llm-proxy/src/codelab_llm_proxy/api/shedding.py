"""Load shedding: past ``limit`` model calls in flight, answer 503 + Retry-After at once.

Queueing without bound would make every caller wait (and time out) instead of letting a
few retry elsewhere. Pure ASGI, so a streamed answer counts until its last byte.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

_GUARDED = ("/v1/chat/completions", "/v1/embeddings")
_BODY = json.dumps(
    {
        "error": {
            "message": "the proxy is at capacity; retry shortly",
            "type": "api_error",
            "param": None,
            "code": "overloaded",
        }
    }
).encode()


class LoadShedder:
    """Counts model calls in flight; ``limit`` 0 disables shedding."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.limit or scope["type"] != "http" or scope["path"] not in _GUARDED:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": [(b"content-type", b"application/json"), (b"retry-after", b"1")],
                }
            )
            await send({"type": "http.response.body", "body": _BODY})
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
