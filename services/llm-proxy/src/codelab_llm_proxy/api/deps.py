"""Request dependencies of the ``/v1`` routes: the verified caller and the call record."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from codelab_common.jwt import AccessTokenClaims, InvalidToken, JwtVerifier, bearer_from_header
from codelab_llm_proxy.backend import LlmBackend
from codelab_llm_proxy.errors import ModelNotFound
from codelab_llm_proxy.metrics import LlmMetrics
from codelab_llm_proxy.settings import LlmProxySettings


async def authenticated_caller(request: Request) -> AccessTokenClaims:
    """Verify the bearer token (audience ``codelab-llm-proxy``) and the invoke scope."""
    token = bearer_from_header(request.headers.get("authorization"))
    if token is None:
        raise InvalidToken("missing bearer token")
    verifier: JwtVerifier = request.app.state.verifier
    claims = await verifier.verify(token)
    settings: LlmProxySettings = request.app.state.settings
    claims.require_scope(settings.required_scope)
    return claims


# async on purpose: FastAPI runs plain ``def`` dependencies in a worker thread, a thread
# hand-off per request for what is an attribute read.
async def backend(request: Request) -> LlmBackend:
    llm: LlmBackend = request.app.state.llm
    return llm


async def metrics(request: Request) -> LlmMetrics:
    llm_metrics: LlmMetrics = request.app.state.llm_metrics
    return llm_metrics


def require_model(llm: LlmBackend, model: str) -> None:
    """404 in OpenAI's words unless ``model`` is a configured model name."""
    if model not in llm.config.model_names:
        raise ModelNotFound(f"The model '{model}' does not exist", param="model")


Caller = Annotated[AccessTokenClaims, Depends(authenticated_caller)]
Backend = Annotated[LlmBackend, Depends(backend)]
Metrics = Annotated[LlmMetrics, Depends(metrics)]
