"""The REST/SSE transport's requests, built and posted like an ACP client's would be.

No FastAPI here: the routes in ``api/sessions.py`` parse and authorise, these functions talk
to the session channel. Request ids are ``"sse:{uuid}"`` so their responses, seen by an ACP
connection attached to the same session, arrive there as ``_codelab/response``.
"""

from __future__ import annotations

import uuid
from typing import Any

from codelab_common.protocol import JSONRPC_VERSION
from codelab_common.sessions import SessionChannel
from codelab_common.trace_context import relayed_with_trace_context
from codelab_gateway.errors import RuntimeRejected, RuntimeTimeout
from codelab_gateway.jsonrpc import Message, with_codelab_meta
from codelab_gateway.metrics import TO_AGENT, GatewayMetrics
from codelab_gateway.streams import wait_for_response

ORIGIN = "sse"


def new_request_id() -> str:
    return f"sse:{uuid.uuid4().hex}"


class RestRelay:
    """Posts REST calls to a session's input and, for session/new, waits for the answer."""

    def __init__(
        self,
        channel: SessionChannel,
        metrics: GatewayMetrics,
        *,
        block_ms: int,
        create_timeout: float,
    ) -> None:
        self._channel = channel
        self._metrics = metrics
        self._block_ms = block_ms
        self._create_timeout = create_timeout

    async def post(self, session_id: str, message: Message, sub: str) -> None:
        message = relayed_with_trace_context(message)
        await self._channel.post_input(session_id, message, origin=ORIGIN, sub=sub)
        self._metrics.messages.labels("sse", TO_AGENT).inc()

    async def request(self, session_id: str, method: str, params: dict[str, Any], sub: str) -> str:
        """Post a request and return its id; its response shows up in the event stream."""
        request_id = new_request_id()
        message = {"jsonrpc": JSONRPC_VERSION, "id": request_id, "method": method}
        await self.post(session_id, {**message, "params": params}, sub)
        return request_id

    async def new_session(
        self, session_id: str, params: dict[str, Any], sub: str
    ) -> dict[str, Any]:
        """Post session/new for a registered session and return the runtime's result."""
        params = with_codelab_meta(params, sessionId=session_id)
        after = await self._channel.last_seq(session_id)
        request_id = await self.request(session_id, "session/new", params, sub)
        response = await self._wait_response(session_id, request_id, after)
        if "error" in response:
            error = response["error"]
            detail = error.get("message") if isinstance(error, dict) else None
            raise RuntimeRejected(str(detail or "session/new failed"), error=error)
        result = response.get("result")
        return result if isinstance(result, dict) else {}

    async def _wait_response(self, session_id: str, request_id: str, after_seq: int) -> Message:
        timeout = self._create_timeout
        response = await wait_for_response(
            self._channel,
            session_id,
            request_id,
            after_seq,
            timeout_s=timeout,
            block_ms=self._block_ms,
        )
        if response is None:
            raise RuntimeTimeout(f"no answer to session/new within {timeout:g} s")
        return response
