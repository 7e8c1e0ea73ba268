"""``GET/POST /oauth/authorize``: the login and consent page of the code + PKCE grant.

GET validates the authorization request (client, exact redirect URI, PKCE S256,
scope) and renders the form; POST re-validates it, checks the CSRF token and the
password, and redirects back with a code, or with ``access_denied``. Errors found
before the redirect URI is trusted are shown as a page, never redirected
(RFC 6749 §4.1.2.1), so the endpoint cannot be used as an open redirector.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session

from codelab_auth import csrf
from codelab_auth.accounts import BAD_CREDENTIALS, THROTTLED, LoginThrottled
from codelab_auth.api.oauth import form_body
from codelab_auth.context import AuthContext, ContextDep
from codelab_auth.oauth.server import CodelabAuthorizationServer
from codelab_auth.oauth.transport import (
    FormOAuth2Request,
    OAuthResult,
    error_result,
    oauth2_request,
    read_params,
)
from codelab_auth.scopes import SCOPE_DESCRIPTIONS, parse_scope
from codelab_auth.tokens import AccessTokenSigner

router = APIRouter(prefix="/oauth", tags=["oauth"])
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")
OWN_FIELDS = frozenset({csrf.FIELD, "username", "password", "otp", "decision"})
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
    "frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
}


@dataclass(frozen=True)
class Consent:
    """The request is valid: show the form (again, with ``error`` after a bad password)."""

    client_name: str
    scope: str
    error: str | None = None
    status: int = 200


Outcome = OAuthResult | Consent


def page(request: Request, name: str, status: int, **values: Any) -> HTMLResponse:
    response = templates.TemplateResponse(
        request, name, {"title": "Sign in", **values}, status_code=status
    )
    response.headers.update(PAGE_HEADERS)
    return response


def _respond(request: Request, context: AuthContext, outcome: Outcome, params: Any) -> Response:
    if isinstance(outcome, Consent):
        token = csrf.new_token()
        scopes = [
            {"name": name, "description": SCOPE_DESCRIPTIONS.get(name, name)}
            for name in sorted(parse_scope(outcome.scope))
        ]
        response = page(
            request,
            "authorize.html",
            outcome.status,
            client_name=outcome.client_name,
            scopes=scopes,
            error=outcome.error,
            csrf_token=token,
            action="authorize",
            params=[(k, v) for k, v in params.items() if k not in OWN_FIELDS],
        )
        csrf.set_cookie(response, token, context.settings.issuer)
        return response
    status, body, headers = outcome
    location = dict(headers).get("Location")
    if status == 302 and location:
        return RedirectResponse(location, status_code=302, headers={"Cache-Control": "no-store"})
    error = body if isinstance(body, dict) else {}
    return page(
        request,
        "error.html",
        status,
        error=error.get("error", "invalid_request"),
        description=error.get("error_description", ""),
    )


async def _authorize(
    request: Request, context: AuthContext, form: dict[str, str], submitted: dict[str, str]
) -> Outcome:
    """Run authlib's authorization endpoint on one DB session; commit codes and audits."""
    oauth_request = oauth2_request(request, context.settings.issuer, form)
    key = await context.keyring.signing_key()
    signer = AccessTokenSigner(
        issuer=context.settings.issuer, ttl=context.settings.access_token_ttl, key=key
    )
    ip = request.client.host if request.client else None

    def handle(session: Session) -> Outcome:
        server = CodelabAuthorizationServer(session, context.policy, signer, ip)
        try:
            grant = server.get_consent_grant(oauth_request)
        except OAuth2Error as error:
            return error_result(error)
        client_id = grant.request.client.get_client_id()
        client_name = grant.request.client.row.name or client_id
        scope = grant.request.scope or ""
        if not submitted:
            return Consent(client_name, scope)
        if submitted.get("decision") != "allow":
            server.audit("consent", outcome="denied", client_id=client_id)
            return _result(server, oauth_request, None, grant)
        try:
            user = server.login(
                submitted.get("username", ""),
                submitted.get("password", ""),
                submitted.get("otp"),
            )
        except LoginThrottled:
            return Consent(client_name, scope, THROTTLED, status=429)
        if user is None:
            return Consent(client_name, scope, BAD_CREDENTIALS, status=401)
        server.audit("consent", subject=str(user.id), client_id=client_id)
        return _result(server, oauth_request, user, grant)

    async with context.sessions() as session:
        outcome = await session.run_sync(handle)
        await session.commit()
    return outcome


def _result(
    server: CodelabAuthorizationServer, request: FormOAuth2Request, user: Any, grant: Any
) -> OAuthResult:
    result: OAuthResult = server.create_authorization_response(request, user, grant)
    return result


@router.get("/authorize", summary="Authorization endpoint: login and consent page (RFC 6749)")
async def authorizepage(request: Request, context: ContextDep) -> Response:
    try:
        params = read_params(request.query_params.multi_items())
    except InvalidRequestError as error:
        return _respond(request, context, error_result(error), {})
    outcome = await _authorize(request, context, params, {})
    return _respond(request, context, outcome, params)


@router.post(
    "/authorize",
    summary="Submit the login and consent form",
    openapi_extra=form_body(
        "csrf_token",
        "username",
        "password",
        "decision",
        "response_type",
        "client_id",
        "redirect_uri",
        "scope",
        "state",
        "code_challenge",
        "code_challenge_method",
        "resource",
    ),
)
async def authorize_submit(request: Request, context: ContextDep) -> Response:
    try:
        form = await request.form()
        fields = read_params(form.multi_items())
    except InvalidRequestError as error:
        return _respond(request, context, error_result(error), {})
    if not csrf.is_valid(request.cookies.get(csrf.COOKIE), fields.get(csrf.FIELD)):
        expired = InvalidRequestError("The form expired or was not sent by this site.")
        _, body, _ = error_result(expired)
        return _respond(request, context, (403, body, []), {})
    params = {k: v for k, v in fields.items() if k not in OWN_FIELDS}
    submitted = {k: v for k, v in fields.items() if k in OWN_FIELDS}
    submitted.setdefault("decision", "")
    outcome = await _authorize(request, context, params, submitted)
    return _respond(request, context, outcome, params)
