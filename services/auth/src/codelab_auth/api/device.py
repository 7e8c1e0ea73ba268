"""``GET/POST /oauth/device``: where a person enters a device's user code (RFC 8628 §3.3).

GET without a code asks for it; with a valid pending code it shows which client asks
for what, and a login form (CSRF-protected like the authorize page). POST approves or
denies the device code for the signed-in user; the device's polling then succeeds.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749.errors import InvalidRequestError
from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from codelab_auth import csrf
from codelab_auth.accounts import BAD_CREDENTIALS, THROTTLED, LoginThrottled
from codelab_auth.api.authorize import page
from codelab_auth.api.oauth import form_body
from codelab_auth.context import AuthContext, ContextDep
from codelab_auth.oauth.device import APPROVED, DENIED, find_pending
from codelab_auth.oauth.server import CodelabAuthorizationServer
from codelab_auth.oauth.transport import read_params
from codelab_auth.scopes import SCOPE_DESCRIPTIONS, parse_scope
from codelab_auth.tokens import AccessTokenSigner

router = APIRouter(prefix="/oauth", tags=["oauth"])
UNKNOWN_CODE = "That code is not valid or has expired. Check the device and try again."


def _render(request: Request, context: AuthContext, status: int, **values: Any) -> Response:
    token = csrf.new_token()
    response = page(request, "device.html", status, csrf_token=token, **values)
    csrf.set_cookie(response, token, context.settings.issuer)
    return response


async def _server_run(request: Request, context: AuthContext, fn: Any) -> Any:
    key = await context.keyring.signing_key()
    signer = AccessTokenSigner(
        issuer=context.settings.issuer, ttl=context.settings.access_token_ttl, key=key
    )
    ip = request.client.host if request.client else None

    def handle(session: Session) -> Any:
        return fn(CodelabAuthorizationServer(session, context.policy, signer, ip))

    async with context.sessions() as session:
        result = await session.run_sync(handle)
        await session.commit()
    return result


def _describe(server: CodelabAuthorizationServer, user_code: str) -> dict[str, Any] | None:
    row = find_pending(server.session, user_code)
    if row is None:
        return None
    client = server.query_client(row.client_id)
    name = (client.row.name if client else "") or row.client_id
    scopes = [SCOPE_DESCRIPTIONS.get(s, s) for s in sorted(parse_scope(row.scope))]
    return {"client_name": name, "scopes": scopes, "user_code": row.user_code}


@router.get("/device", summary="Enter a device's user code (RFC 8628)")
async def device_page(request: Request, context: ContextDep) -> Response:
    code = request.query_params.get("user_code", "")[:64]
    if not code:
        return _render(request, context, 200)
    shown = await _server_run(request, context, lambda server: _describe(server, code))
    if shown is None:
        return _render(request, context, 400, error=UNKNOWN_CODE)
    return _render(request, context, 200, **shown)


@router.post(
    "/device",
    summary="Approve or deny a device",
    openapi_extra=form_body("csrf_token", "user_code", "username", "password", "otp", "decision"),
)
async def device_submit(request: Request, context: ContextDep) -> Response:
    try:
        fields = read_params((await request.form()).multi_items())
    except InvalidRequestError:
        return _render(request, context, 400, error=UNKNOWN_CODE)
    if not csrf.is_valid(request.cookies.get(csrf.COOKIE), fields.get(csrf.FIELD)):
        return _render(request, context, 403, error="The form expired; start again.")
    code = fields.get("user_code", "")

    def decide(server: CodelabAuthorizationServer) -> tuple[int, dict[str, Any]]:
        row = find_pending(server.session, code)
        if row is None:
            return 400, {"error": UNKNOWN_CODE}
        shown = _describe(server, code) or {}
        try:
            user = server.login(
                fields.get("username", ""), fields.get("password", ""), fields.get("otp")
            )
        except LoginThrottled:
            return 429, {**shown, "error": THROTTLED}
        if user is None:
            return 401, {**shown, "error": BAD_CREDENTIALS}
        allowed = fields.get("decision") == "allow"
        row.status, row.user_id = (APPROVED if allowed else DENIED), user.id
        server.audit(
            "device_approval",
            outcome="success" if allowed else "denied",
            subject=str(user.id),
            client_id=row.client_id,
        )
        return 200, {"done": "Device connected. You can return to it." if allowed else "Denied."}

    status, values = await _server_run(request, context, decide)
    return _render(request, context, status, **values)
