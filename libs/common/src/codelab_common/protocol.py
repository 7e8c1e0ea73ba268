"""The wire vocabulary between clients, gateway and runtime.

ACP's own types come from the ``agent-client-protocol`` package (import name ``acp``);
what is here is CodeLab's layer around them: JSON-RPC envelopes as the relay sees
them, our error and close codes, and the ``_meta`` / ``_codelab/...`` extensions
documented in ``docs/protocol.md``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from codelab_common.errors import CodelabError

JSONRPC_VERSION = "2.0"

# _meta namespace for our extensions (ACP reserves `_meta` for exactly this).
META_NAMESPACE = "codelab"
# session/load: {"_meta": {"codelab": {"lastSeq": N}}} -> replay only what came after N.
META_LAST_SEQ = "lastSeq"
# Every message the gateway relays from a session's output stream carries its sequence
# number: requests/notifications in params._meta.codelab.seq, responses with an object
# result in result._meta.codelab.seq (see docs/protocol.md).
META_SEQ = "seq"

# llm-proxy -> runtime: what a call cost in USD, an extension member of the OpenAI
# ``usage`` object (OpenAI clients keep unknown usage members).
USAGE_COST_FIELD = "codelab_cost_usd"

# Extension notifications (agent -> client).
EXT_RESPONSE = "_codelab/response"  # a response to a request sent on an earlier connection


class JsonRpcErrorCode(IntEnum):
    """JSON-RPC 2.0 error codes, plus ours in the implementation-defined range."""

    PARSE_ERROR = -32700
    INVALID_REQUEST = -32600
    METHOD_NOT_FOUND = -32601
    INVALID_PARAMS = -32602
    INTERNAL_ERROR = -32603
    # ACP: authentication required
    AUTH_REQUIRED = -32000
    # ACP: resource not found (e.g. a file outside the workspace)
    RESOURCE_NOT_FOUND = -32002
    # CodeLab: the caller may not touch this session
    FORBIDDEN = -32003
    # CodeLab: the session does not exist
    SESSION_NOT_FOUND = -32004
    # CodeLab: the request was refused by the client's sandbox (path outside the workspace)
    ACCESS_DENIED = -32005


class CloseCode(IntEnum):
    """WebSocket close codes the gateway uses (4000-4999 are application-defined)."""

    NORMAL = 1000
    GOING_AWAY = 1001
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    BAD_MESSAGE = 4400
    UNAUTHORIZED = 4401
    FORBIDDEN = 4403
    TOKEN_EXPIRED = 4408
    MESSAGE_TOO_BIG = 4413


class JsonRpcError(BaseModel):
    """A JSON-RPC error object."""

    code: int
    message: str
    data: Any | None = None


class JsonRpcMessage(BaseModel):
    """Any JSON-RPC 2.0 message as the relay sees it: request, notification or response.

    The relay only needs the envelope; params and results stay raw dicts and are
    typed by ``acp.schema`` at the ends (client and runtime).
    """

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    jsonrpc: str = JSONRPC_VERSION
    id: int | str | None = None
    method: str | None = None
    params: dict[str, Any] | list[Any] | None = None
    result: Any | None = None
    error: JsonRpcError | None = None

    @property
    def is_request(self) -> bool:
        return self.method is not None and self.id is not None

    @property
    def is_notification(self) -> bool:
        return self.method is not None and self.id is None

    @property
    def is_response(self) -> bool:
        return self.method is None and self.id is not None

    def session_id(self) -> str | None:
        """``params.sessionId`` if the message carries one."""
        if isinstance(self.params, dict):
            value = self.params.get("sessionId")
            return value if isinstance(value, str) else None
        return None


def error_response(
    request_id: int | str | None, code: int, message: str, data: Any | None = None
) -> dict[str, Any]:
    """A JSON-RPC error response, as a plain dict ready to send."""
    error: dict[str, Any] = {"code": int(code), "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "error": error}


def result_response(request_id: int | str | None, result: Any) -> dict[str, Any]:
    """A JSON-RPC success response, as a plain dict ready to send."""
    return {"jsonrpc": JSONRPC_VERSION, "id": request_id, "result": result}


_ERROR_CODE_BY_STATUS = {
    400: JsonRpcErrorCode.INVALID_PARAMS,
    401: JsonRpcErrorCode.AUTH_REQUIRED,
    403: JsonRpcErrorCode.FORBIDDEN,
    404: JsonRpcErrorCode.SESSION_NOT_FOUND,
}


def error_from_exception(request_id: int | str | None, exc: CodelabError) -> dict[str, Any]:
    """Render a :class:`CodelabError` as a JSON-RPC error response."""
    code = _ERROR_CODE_BY_STATUS.get(exc.status, JsonRpcErrorCode.INTERNAL_ERROR)
    return error_response(request_id, code, exc.detail, {"code": exc.code})


class SessionMeta(BaseModel):
    """Our ``_meta.codelab`` block on ``session/load``."""

    last_seq: int | None = Field(default=None, alias=META_LAST_SEQ, ge=0)

    model_config = ConfigDict(populate_by_name=True)
