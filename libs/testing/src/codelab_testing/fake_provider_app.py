"""The Starlette app of the fake OpenAI provider: ``/v1`` wire routes and ``/_scripts`` control."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from codelab_testing.fake_provider_models import ScriptBook, ScriptsPayload
from codelab_testing.fake_provider_wire import (
    CompletionBuilder,
    embeddings_response,
    error_body,
)


class ProviderAborted(Exception):
    """Raised inside a stream to drop the connection mid-response, as a dying provider would."""


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


async def _read_json(request: Request) -> dict[str, Any] | Response:
    try:
        body = await request.json()
    except ValueError:
        return JSONResponse(error_body(400, "body is not JSON"), status_code=400)
    if not isinstance(body, dict):
        return JSONResponse(error_body(400, "body must be a JSON object"), status_code=400)
    return body


async def _stream(builder: CompletionBuilder) -> AsyncIterator[bytes]:
    reply = builder.reply
    for sent, chunk in enumerate(builder.chunks()):
        if reply.abort_after_chunks is not None and sent >= reply.abort_after_chunks:
            raise ProviderAborted("scripted abort")
        if reply.hang_after_chunks is not None and sent == reply.hang_after_chunks:
            await asyncio.sleep(reply.hang_seconds)
        if reply.delay_per_chunk and sent:
            await asyncio.sleep(reply.delay_per_chunk)
        yield _sse(chunk)
    yield _sse("[DONE]")


def _book(request: Request) -> ScriptBook:
    book: ScriptBook = request.app.state.book
    return book


async def chat_completions(request: Request) -> Response:
    body = await _read_json(request)
    if isinstance(body, Response):
        return body
    name, reply = _book(request).take(body)
    if reply.status != 200:
        message = reply.content or f"fake provider error {reply.status} (script {name})"
        return JSONResponse(error_body(reply.status, message), status_code=reply.status)
    builder = CompletionBuilder(body, reply)
    if reply.hang_after_chunks == 0 and not body.get("stream"):
        await asyncio.sleep(reply.hang_seconds)
    if not body.get("stream"):
        if reply.delay_per_chunk:
            await asyncio.sleep(reply.delay_per_chunk)
        return JSONResponse(builder.completion())
    return StreamingResponse(
        _stream(builder), media_type="text/event-stream", headers={"cache-control": "no-cache"}
    )


async def list_models(request: Request) -> Response:
    created = int(time.time())
    data = [
        {"id": m, "object": "model", "created": created, "owned_by": "codelab-testing"}
        for m in request.app.state.models
    ]
    return JSONResponse({"object": "list", "data": data})


async def embeddings(request: Request) -> Response:
    body = await _read_json(request)
    if isinstance(body, Response):
        return body
    return JSONResponse(embeddings_response(body, request.app.state.embedding_dims))


async def set_script(request: Request) -> Response:
    try:
        payload = ScriptsPayload.model_validate_json(await request.body())
    except ValidationError as exc:
        return JSONResponse({"error": exc.errors(include_url=False)}, status_code=422)
    name = request.path_params["name"]
    _book(request).set_script(name, payload.replies)
    return JSONResponse({"script": name, "queued": len(payload.replies)})


async def reset(request: Request) -> Response:
    _book(request).reset()
    return Response(status_code=204)


async def received(request: Request) -> Response:
    name = request.query_params.get("script")
    return JSONResponse({"script": name, "requests": _book(request).requests(name)})


def create_fake_provider_app(
    book: ScriptBook, *, models: list[str], embedding_dims: int = 64
) -> Starlette:
    """An OpenAI-compatible app answering from ``book``'s scripts."""
    app = Starlette(
        routes=[
            Route("/v1/chat/completions", chat_completions, methods=["POST"]),
            Route("/v1/models", list_models, methods=["GET"]),
            Route("/v1/embeddings", embeddings, methods=["POST"]),
            Route("/_scripts/{name}", set_script, methods=["POST"]),
            Route("/_scripts", reset, methods=["DELETE"]),
            Route("/_requests", received, methods=["GET"]),
        ]
    )
    app.state.book = book
    app.state.models = models
    app.state.embedding_dims = embedding_dims
    return app
