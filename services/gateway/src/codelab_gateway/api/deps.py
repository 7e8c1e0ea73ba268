"""FastAPI dependencies of the REST/SSE routes: the gateway state and the caller's claims."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from codelab_common.jwt import AccessTokenClaims
from codelab_gateway.auth import token_from_request
from codelab_gateway.state import GatewayState


def get_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


State = Annotated[GatewayState, Depends(get_state)]


async def get_claims(
    state: State, authorization: Annotated[str | None, Header()] = None
) -> AccessTokenClaims:
    """The caller's verified claims; 401 problem+json without a valid bearer token."""
    token = token_from_request(authorization, None, allow_query=False)
    return await state.authenticator.authenticate(token, transport="sse")


Claims = Annotated[AccessTokenClaims, Depends(get_claims)]
