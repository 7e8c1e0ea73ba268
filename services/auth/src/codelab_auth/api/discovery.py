"""Key set and metadata: ``/.well-known/jwks.json``, ``/.well-known/openid-configuration``."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from codelab_auth.context import ContextDep
from codelab_auth.oauth.grants import CONFIDENTIAL_METHODS, TOKEN_AUTH_METHODS
from codelab_auth.oauth.server import GRANT_TYPES
from codelab_auth.scopes import SUPPORTED_SCOPES
from codelab_auth.settings import AuthSettings
from codelab_common.dpop import PROOF_ALGORITHMS

router = APIRouter(prefix="/.well-known", tags=["discovery"])


def server_metadata(settings: AuthSettings) -> dict[str, Any]:
    """RFC 8414 metadata listing exactly what this server implements."""
    issuer = settings.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/oauth/authorize",
        "token_endpoint": f"{issuer}/oauth/token",
        "device_authorization_endpoint": f"{issuer}/oauth/device_authorization",
        "jwks_uri": f"{issuer}/.well-known/jwks.json",
        "revocation_endpoint": f"{issuer}/oauth/revoke",
        "introspection_endpoint": f"{issuer}/oauth/introspect",
        "grant_types_supported": list(GRANT_TYPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
        "revocation_endpoint_auth_methods_supported": list(TOKEN_AUTH_METHODS),
        "introspection_endpoint_auth_methods_supported": list(CONFIDENTIAL_METHODS),
        "scopes_supported": list(SUPPORTED_SCOPES),
        "dpop_signing_alg_values_supported": list(PROOF_ALGORITHMS),
    }


@router.get("/jwks.json", summary="Public signing keys (RFC 7517 JWK Set)")
async def jwks(context: ContextDep) -> JSONResponse:
    document = await context.keyring.jwks()
    # Short cache: verifiers refetch on an unknown kid anyway, this only spares load.
    return JSONResponse(document, headers={"Cache-Control": "public, max-age=60"})


@router.get("/openid-configuration", summary="Authorization server metadata")
async def openid_configuration(context: ContextDep) -> dict[str, Any]:
    return server_metadata(context.settings)


@router.get("/oauth-authorization-server", summary="Authorization server metadata (RFC 8414)")
async def oauth_authorization_server(context: ContextDep) -> dict[str, Any]:
    return server_metadata(context.settings)
