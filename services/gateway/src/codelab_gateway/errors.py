"""Typed gateway errors; HTTP renders them as problem+json, the ACP socket as JSON-RPC errors."""

from __future__ import annotations

from codelab_common.errors import (
    BadRequest,
    CodelabError,
    Forbidden,
    NotFound,
    UpstreamError,
)


class SessionNotFound(NotFound):
    """No registry entry for this session id (JSON-RPC -32004 on the socket)."""

    code = "session_not_found"
    title = "Session not found"


class SessionForbidden(Forbidden):
    """The session belongs to another user (JSON-RPC -32003 on the socket)."""

    code = "session_forbidden"
    title = "Not your session"


class InvalidParams(BadRequest):
    """The params of a JSON-RPC request do not match ACP's schema (-32602)."""

    code = "invalid_params"
    title = "Invalid params"


class RuntimeTimeout(CodelabError):
    """The runtime did not answer in time (it may be down or overloaded)."""

    status = 504
    code = "runtime_timeout"
    title = "The agent runtime did not answer in time"


class RuntimeRejected(UpstreamError):
    """The runtime answered a request with a JSON-RPC error."""

    code = "runtime_error"
    title = "The agent runtime rejected the request"
