"""FastAPI dependencies of the REST/SSE routes: the gateway state and the caller's claims."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from codelab_common.jwt import AccessTokenClaims
from codelab_gateway.auth import dpop_token, token_from_request
from codelab_gateway.state import GatewayState


def get_state(request: Request) -> GatewayState:
    state: GatewayState = request.app.state.gateway
    return state


State = Annotated[GatewayState, Depends(get_state)]


async def get_claims(
    request: Request,
    state: State,
    authorization: Annotated[str | None, Header()] = None,
    dpop: Annotated[str | None, Header()] = None,
) -> AccessTokenClaims:
    """The caller's verified claims; 401 problem+json without a valid token.

    ``Authorization: Bearer`` as before; ``Authorization: DPoP`` with a ``DPoP`` proof for
    this method and public URL (RFC 9449) for sender-constrained tokens.
    """
    if (bound := dpop_token(authorization)) is not None:
        urls = [f"{base}{request.url.path}" for base in state.settings.public_urls]
        return await state.authenticator.authenticate_dpop(
            bound, dpop, method=request.method, url=urls, transport="sse"
        )
    token = token_from_request(authorization, None, allow_query=False)
    return await state.authenticator.authenticate(token, transport="sse")


Claims = Annotated[AccessTokenClaims, Depends(get_claims)]
