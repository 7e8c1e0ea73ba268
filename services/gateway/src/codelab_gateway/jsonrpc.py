"""JSON-RPC envelope handling for the relay: frame checks, id rewriting, ``_meta`` stamping.

Params and results stay plain dicts here: the relay only touches the envelope and our
``_meta.codelab`` block, so a field ACP adds tomorrow passes through untouched.
"""

from __future__ import annotations

import copy
import json
from enum import Enum
from typing import Any

from codelab_common.protocol import (
    EXT_RESPONSE,
    JSONRPC_VERSION,
    META_NAMESPACE,
    META_SEQ,
    JsonRpcErrorCode,
)

JsonId = int | str
Message = dict[str, Any]


class Kind(Enum):
    """What a JSON-RPC message is, by its envelope."""

    REQUEST = "request"
    NOTIFICATION = "notification"
    RESPONSE = "response"


class FrameError(Exception):
    """A frame that is not a JSON-RPC message; answered with ``id: null``."""

    def __init__(self, code: JsonRpcErrorCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _valid_id(value: Any) -> bool:
    # bool is an int subclass but never a JSON-RPC id.
    return isinstance(value, str | int) and not isinstance(value, bool)


def parse_frame(text: str) -> Message:
    """Parse one text frame into a JSON-RPC message or raise :class:`FrameError`."""
    try:
        message = json.loads(text)
    except ValueError as exc:
        raise FrameError(JsonRpcErrorCode.PARSE_ERROR, "Parse error") from exc
    if not isinstance(message, dict):
        raise FrameError(JsonRpcErrorCode.INVALID_REQUEST, "A message must be a JSON object")
    if message.get("jsonrpc") != JSONRPC_VERSION:
        raise FrameError(JsonRpcErrorCode.INVALID_REQUEST, 'jsonrpc must be "2.0"')
    if "id" in message and message["id"] is not None and not _valid_id(message["id"]):
        raise FrameError(JsonRpcErrorCode.INVALID_REQUEST, "id must be a string or an integer")
    if "method" in message:
        if not isinstance(message["method"], str):
            raise FrameError(JsonRpcErrorCode.INVALID_REQUEST, "method must be a string")
        if "params" in message and not isinstance(message["params"], dict | list):
            raise FrameError(JsonRpcErrorCode.INVALID_REQUEST, "params must be structured")
    elif message.get("id") is None or ("result" in message) == ("error" in message):
        raise FrameError(
            JsonRpcErrorCode.INVALID_REQUEST, "Not a request, notification or response"
        )
    return message


def kind_of(message: Message) -> Kind:
    """Classify a message that passed :func:`parse_frame` (or came from the runtime)."""
    if "method" in message:
        return Kind.REQUEST if message.get("id") is not None else Kind.NOTIFICATION
    return Kind.RESPONSE


def id_key(value: JsonId) -> str:
    """A dict key that keeps ``1`` and ``"1"`` apart."""
    return json.dumps(value)


def rewrite_id(connection_id: str, value: JsonId) -> str:
    """The id a client request carries on the input stream: ``"{connection}:{json id}"``."""
    return f"{connection_id}:{json.dumps(value)}"


def session_id_of(message: Message) -> str | None:
    """``params.sessionId`` if the message has one."""
    params = message.get("params")
    value = params.get("sessionId") if isinstance(params, dict) else None
    return value if isinstance(value, str) else None


def codelab_meta(container: Any) -> dict[str, Any]:
    """The ``_meta.codelab`` block of a params/result object (empty if absent or malformed)."""
    if not isinstance(container, dict):
        return {}
    meta = container.get("_meta")
    block = meta.get(META_NAMESPACE) if isinstance(meta, dict) else None
    return block if isinstance(block, dict) else {}


def with_codelab_meta(container: dict[str, Any], **values: Any) -> dict[str, Any]:
    """A copy of ``container`` with ``values`` merged into ``_meta.codelab``."""
    out = dict(container)
    meta = dict(out["_meta"]) if isinstance(out.get("_meta"), dict) else {}
    block = dict(meta[META_NAMESPACE]) if isinstance(meta.get(META_NAMESPACE), dict) else {}
    block.update(values)
    meta[META_NAMESPACE] = block
    out["_meta"] = meta
    return out


def stamp_seq(message: Message, seq: int) -> Message:
    """Mark a relayed message with its output sequence number, where ACP allows ``_meta``.

    Requests and notifications carry it in ``params._meta.codelab.seq``; responses with an
    object result in ``result._meta.codelab.seq``. Error responses and ``null`` results have
    nowhere to put it and go out unmarked.
    """
    out = copy.copy(message)
    if "method" in out:
        params = out.get("params")
        if params is None or isinstance(params, dict):
            out["params"] = with_codelab_meta(params or {}, **{META_SEQ: seq})
    elif isinstance(out.get("result"), dict):
        out["result"] = with_codelab_meta(out["result"], **{META_SEQ: seq})
    return out


def response_notification(session_id: str, response: Message, seq: int) -> Message:
    """A response to a request this connection did not send, as a ``_codelab/response``."""
    params = {"sessionId": session_id, "response": response}
    return {
        "jsonrpc": JSONRPC_VERSION,
        "method": EXT_RESPONSE,
        "params": with_codelab_meta(params, **{META_SEQ: seq}),
    }
