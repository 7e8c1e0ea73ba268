"""REST + SSE for web clients: the same sessions and event stream as the ACP socket."""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sse_starlette import EventSourceResponse, ServerSentEvent

from codelab_common.protocol import JSONRPC_VERSION, JsonRpcError
from codelab_gateway.access import SCOPE_READ, SCOPE_WRITE
from codelab_gateway.api.deps import Claims, State
from codelab_gateway.jsonrpc import stamp_seq
from codelab_gateway.metrics import TO_CLIENT
from codelab_gateway.streams import tail_output

router = APIRouter(prefix="/v1/sessions", tags=["sessions"])


class CreateSessionBody(BaseModel):
    """``session/new`` params; unknown fields are passed on to the runtime."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)

    cwd: str
    mcp_servers: list[dict[str, Any]] = Field(default_factory=list, alias="mcpServers")

    @field_validator("cwd")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not os.path.isabs(value):
            raise ValueError("cwd must be an absolute path")
        return value


class PromptBody(BaseModel):
    """Either ACP content blocks or plain text (sent as one text block)."""

    prompt: list[dict[str, Any]] | None = None
    text: str | None = None

    @model_validator(mode="after")
    def _one_of(self) -> PromptBody:
        if (self.prompt is None) == (self.text is None):
            raise ValueError("give exactly one of 'prompt' or 'text'")
        return self

    def blocks(self) -> list[dict[str, Any]]:
        return self.prompt if self.prompt is not None else [{"type": "text", "text": self.text}]


class AnswerBody(BaseModel):
    """The client's answer to an agent request: exactly one of ``result`` or ``error``."""

    result: dict[str, Any] | None = None
    error: JsonRpcError | None = None

    @model_validator(mode="after")
    def _one_of(self) -> AnswerBody:
        if ("result" in self.model_fields_set) == ("error" in self.model_fields_set):
            raise ValueError("give exactly one of 'result' or 'error'")
        return self


class Accepted(BaseModel):
    """A request was posted; its response will appear in the event stream."""

    request_id: str = Field(serialization_alias="requestId")


@router.post("", status_code=201, summary="Create a session (session/new)")
async def create_session(
    body: CreateSessionBody, state: State, claims: Claims, response: Response
) -> dict[str, Any]:
    record = await state.access.create(claims, body.cwd)
    params = body.model_dump(by_alias=True)
    result = await state.rest.new_session(record.session_id, params, claims.sub)
    response.headers["Location"] = f"/v1/sessions/{record.session_id}"
    return result


@router.get("/{session_id}", summary="A session's registry entry and last sequence number")
async def get_session(session_id: str, state: State, claims: Claims) -> dict[str, Any]:
    record = await state.access.authorize(session_id, claims, SCOPE_READ)
    return {
        "sessionId": record.session_id,
        "cwd": record.cwd,
        "createdAt": record.created_at,
        "lastSeq": await state.channel.last_seq(session_id),
    }


@router.post("/{session_id}/prompt", status_code=202, response_model_by_alias=True)
async def prompt(session_id: str, body: PromptBody, state: State, claims: Claims) -> Accepted:
    """Post ``session/prompt``; its response appears later in the event stream."""
    await state.access.authorize(session_id, claims, SCOPE_WRITE)
    params = {"sessionId": session_id, "prompt": body.blocks()}
    request_id = await state.rest.request(session_id, "session/prompt", params, claims.sub)
    return Accepted(request_id=request_id)


@router.post("/{session_id}/cancel", status_code=202)
async def cancel(session_id: str, state: State, claims: Claims) -> dict[str, bool]:
    """Post the ``session/cancel`` notification."""
    await state.access.authorize(session_id, claims, SCOPE_WRITE)
    message = {
        "jsonrpc": JSONRPC_VERSION,
        "method": "session/cancel",
        "params": {"sessionId": session_id},
    }
    await state.rest.post(session_id, message, claims.sub)
    return {"accepted": True}


@router.post("/{session_id}/responses/{request_id}", status_code=202)
async def answer(
    session_id: str, request_id: str, body: AnswerBody, state: State, claims: Claims
) -> dict[str, bool]:
    """Answer an agent request (permission, fs, terminal) seen in the event stream."""
    await state.access.authorize(session_id, claims, SCOPE_WRITE)
    message: dict[str, Any] = {"jsonrpc": JSONRPC_VERSION, "id": request_id}
    if body.error is not None:
        message["error"] = body.error.model_dump(exclude_none=True)
    else:
        message["result"] = body.result
    await state.rest.post(session_id, message, claims.sub)
    return {"accepted": True}


@router.get("/{session_id}/events", summary="The session's output as text/event-stream")
async def events(
    session_id: str,
    state: State,
    claims: Claims,
    last_event_id: Annotated[int | None, Header(ge=0)] = None,
    after: Annotated[int, Query(ge=0)] = 0,
) -> EventSourceResponse:
    """Every output entry after ``Last-Event-ID`` (or ``?after=``), then live, until the
    client goes away. ``id:`` is the sequence number, ``event:`` the method or ``response``.
    """
    await state.access.authorize(session_id, claims, SCOPE_READ)
    start = last_event_id if last_event_id is not None else after

    async def stream() -> AsyncIterator[ServerSentEvent]:
        state.metrics.sse_streams.inc()
        try:
            async for entry in tail_output(
                state.channel, session_id, start, block_ms=state.settings.relay_block_ms
            ):
                method = entry.message.get("method")
                yield ServerSentEvent(
                    data=json.dumps(stamp_seq(entry.message, entry.seq)),
                    id=str(entry.seq),
                    event=method if isinstance(method, str) else "response",
                )
                state.metrics.messages.labels("sse", TO_CLIENT).inc()
        finally:
            state.metrics.sse_streams.dec()

    return EventSourceResponse(stream(), ping=state.settings.sse_keepalive_seconds)
