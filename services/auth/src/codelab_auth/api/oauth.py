"""``POST /oauth/token``, ``/oauth/revoke``, ``/oauth/introspect``: authlib behind Starlette.

All answer in RFC 6749 / 7009 / 7662 JSON (never problem+json), with
``Cache-Control: no-store``, because OAuth clients parse exactly that shape.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from codelab_auth.context import AuthContext, ContextDep
from codelab_auth.oauth.server import CodelabAuthorizationServer
from codelab_auth.oauth.transport import (
    OAuthResult,
    error_result,
    read_oauth2_request,
    to_response,
)
from codelab_auth.tokens import AccessTokenSigner
from codelab_common.dpop import InvalidDpopProof

router = APIRouter(prefix="/oauth", tags=["oauth"])


def form_body(*names: str, required: tuple[str, ...] = ()) -> dict[str, Any]:
    """OpenAPI for a form body read by the authlib adapter (not by FastAPI's parameters)."""
    schema = {
        "type": "object",
        "properties": {name: {"type": "string", "maxLength": 4096} for name in names},
        "required": list(required),
    }
    content = {"application/x-www-form-urlencoded": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


CLIENT = ("client_id", "client_secret")
TOKEN_FORM = form_body(
    "grant_type",
    "code",
    "redirect_uri",
    "code_verifier",
    "refresh_token",
    "username",
    "password",
    "scope",
    "resource",
    "device_code",
    *CLIENT,
    required=("grant_type",),
)
TOKEN_HINT_FORM = form_body("token", "token_type_hint", *CLIENT, required=("token",))


class InvalidDpopProofError(OAuth2Error):  # type: ignore[misc]
    """RFC 9449 §5: the DPoP proof at the token endpoint is invalid."""

    error = "invalid_dpop_proof"


async def _dpop_key(context: AuthContext, proof: str) -> str:
    """The thumbprint of the proof's key; the proof must be for this token endpoint."""
    try:
        return await context.dpop.verify_shared(
            proof, method="POST", url=f"{context.settings.issuer}/oauth/token"
        )
    except InvalidDpopProof as exc:
        raise InvalidDpopProofError(exc.detail) from exc


async def _run(context: AuthContext, request: Request, endpoint: str) -> Response:
    """Read the form, then run authlib in ``run_sync`` on one session and commit.

    The commit also happens for error answers: reuse detection revokes a token family
    *and* answers invalid_grant, and that revocation must stick.
    """
    try:
        oauth_request = await read_oauth2_request(request, context.settings.issuer)
        if endpoint == "token" and not oauth_request.payload.grant_type:
            raise InvalidRequestError("Missing 'grant_type' in request.")
        if endpoint == "token" and (proof := request.headers.get("dpop")) is not None:
            oauth_request.dpop_jkt = await _dpop_key(context, proof)
    except OAuth2Error as error:
        return to_response(error_result(error))
    key = await context.keyring.signing_key()
    signer = AccessTokenSigner(
        issuer=context.settings.issuer, ttl=context.settings.access_token_ttl, key=key
    )
    jwks = None if endpoint == "token" else await context.keyring.jwks()
    ip = request.client.host if request.client else None

    def handle(session: Session) -> OAuthResult:
        server = CodelabAuthorizationServer(session, context.policy, signer, ip, jwks)
        if endpoint == "token":
            result: OAuthResult = server.create_token_response(oauth_request)
        else:
            result = server.create_endpoint_response(endpoint, oauth_request)
        return result

    async with context.sessions() as session:
        result = await session.run_sync(handle)
        await session.commit()
    return to_response(result)


@router.post("/token", summary="OAuth 2.0 token endpoint (RFC 6749 §3.2)", openapi_extra=TOKEN_FORM)
async def token(request: Request, context: ContextDep) -> Response:
    return await _run(context, request, "token")


@router.post(
    "/revoke", summary="OAuth 2.0 token revocation (RFC 7009)", openapi_extra=TOKEN_HINT_FORM
)
async def revoke(request: Request, context: ContextDep) -> Response:
    return await _run(context, request, "revocation")


@router.post(
    "/device_authorization",
    summary="Device authorization request (RFC 8628)",
    openapi_extra=form_body("scope", *CLIENT),
)
async def device_authorization(request: Request, context: ContextDep) -> Response:
    return await _run(context, request, "device_authorization")


@router.post(
    "/introspect",
    summary="Token introspection, confidential clients (RFC 7662)",
    openapi_extra=TOKEN_HINT_FORM,
)
async def introspect(request: Request, context: ContextDep) -> Response:
    return await _run(context, request, "introspection")
