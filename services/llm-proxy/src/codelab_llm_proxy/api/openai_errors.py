"""Renders errors on ``/v1`` routes in OpenAI's shape; other paths keep the common handlers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from codelab_common.errors import BadRequest, CodelabError
from codelab_llm_proxy.errors import MethodNotAllowed, RouteNotFound, openai_error_body

log = logging.getLogger(__name__)
Handler = Callable[[Request, Exception], Response | Awaitable[Response]]
OPENAI_PREFIX = "/v1/"


def openai_error_response(error: CodelabError) -> JSONResponse:
    headers = None
    if error.status == 401:
        headers = {"WWW-Authenticate": 'Bearer realm="codelab", error="invalid_token"'}
    elif error.status == 403:
        headers = {"WWW-Authenticate": 'Bearer realm="codelab", error="insufficient_scope"'}
    retry_after = error.extra.get("retry_after")
    if retry_after is not None:
        headers = {**(headers or {}), "Retry-After": str(max(1, round(float(retry_after))))}
    return JSONResponse(openai_error_body(error), status_code=error.status, headers=headers)


def _as_codelab_error(request: Request, exc: Exception) -> CodelabError:
    if isinstance(exc, CodelabError):
        return exc
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        loc = [str(part) for part in first.get("loc", ()) if part != "body"]
        message = f"{'.'.join(loc) or 'body'}: {first.get('msg', 'invalid request')}"
        return BadRequest(message, param=".".join(loc) or None)
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return RouteNotFound(f"unknown URL {request.method} {request.url.path}")
        if exc.status_code == 405:
            return MethodNotAllowed()
        return BadRequest(str(exc.detail))
    log.exception("unhandled error", exc_info=exc)
    return CodelabError()


def install_openai_error_handlers(app: FastAPI) -> None:
    """Wrap the app's handlers: ``/v1/...`` gets OpenAI bodies, the rest what it had."""
    for exc_type in (CodelabError, RequestValidationError, StarletteHTTPException, Exception):
        previous: Handler = app.exception_handlers[exc_type]

        async def handler(
            request: Request, exc: Exception, previous: Handler = previous
        ) -> Response:
            if request.url.path.startswith(OPENAI_PREFIX):
                return openai_error_response(_as_codelab_error(request, exc))
            result = previous(request, exc)
            return await result if isinstance(result, Awaitable) else result

        app.add_exception_handler(exc_type, handler)
