"""``codelab login``: authorization code + PKCE in the browser, with a loopback redirect.

RFC 8252 (OAuth for native apps): the CLI listens on ``127.0.0.1`` on a free port,
opens the authorization URL in the system browser (and prints it, for machines where
no browser opens), and receives the code on ``/callback``. PKCE S256 binds the code to
this process; ``state`` binds the callback to this login attempt.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from codelab_client.auth import DEFAULT_SCOPE, OAuthClient, TokenResponse
from codelab_client.errors import AuthError

CALLBACK_PATH = "/callback"
DONE_PAGE = (
    b"<!doctype html><html lang='en'><title>CodeLab</title><body><main><h1>Signed in</h1>"
    b"<p>You can close this window and return to the terminal.</p></main></body></html>"
)


def pkce_pair() -> tuple[str, str]:
    """A code verifier (RFC 7636 §4.1: 43-128 unreserved chars) and its S256 challenge."""
    verifier = secrets.token_urlsafe(64)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class _CallbackHandler(BaseHTTPRequestHandler):
    server: _CallbackServer

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        if parts.path != CALLBACK_PATH:
            self.send_error(404)
            return
        self.server.result = dict(parse_qsl(parts.query))
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(DONE_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the request line carries the authorization code."""


class _CallbackServer(HTTPServer):
    """The stdlib HTTP server, one request at a time, remembering the callback query."""

    result: dict[str, str] | None = None


class LoopbackListener:
    """Receives the redirect on ``http://127.0.0.1:{free port}/callback``."""

    def __init__(self) -> None:
        self._server = _CallbackServer(("127.0.0.1", 0), _CallbackHandler)
        self._server.timeout = 0.5  # handle_request returns this often to check the deadline

    @property
    def redirect_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}{CALLBACK_PATH}"

    async def wait(self, seconds: float) -> dict[str, str]:
        deadline = time.monotonic() + seconds
        try:
            while self._server.result is None:
                if time.monotonic() > deadline:
                    raise AuthError("no answer from the browser in time; run `codelab login` again")
                await asyncio.to_thread(self._server.handle_request)
            return self._server.result
        finally:
            self._server.server_close()


class BrowserFlow:
    """Authorization code + PKCE through the browser; ``open_url`` shows the page."""

    def __init__(
        self, open_url: Callable[[str], object], scope: str = DEFAULT_SCOPE, timeout: float = 300.0
    ) -> None:
        self.open_url = open_url
        self.scope = scope
        self.timeout = timeout

    async def obtain(self, oauth: OAuthClient) -> TokenResponse:
        endpoint = await oauth.endpoint("authorization_endpoint")
        listener = LoopbackListener()
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(32)
        query = {
            "response_type": "code",
            "client_id": oauth.client_id,
            "redirect_uri": listener.redirect_uri,
            "scope": self.scope,
            "state": state,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        self.open_url(f"{endpoint}?{urlencode(query)}")
        answer = await listener.wait(self.timeout)
        if not hmac.compare_digest(answer.get("state", ""), state):
            raise AuthError("the browser answered for another login attempt (state mismatch)")
        if "error" in answer:
            raise AuthError(f"{answer['error']}: {answer.get('error_description', '')}".strip())
        if not answer.get("code"):
            raise AuthError("the browser answer carried no authorization code")
        return await oauth.request_token(
            {
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": listener.redirect_uri,
                "code_verifier": verifier,
            }
        )
