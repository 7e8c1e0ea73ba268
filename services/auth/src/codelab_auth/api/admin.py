"""Admin REST API (``/admin/...``): users, clients and the audit log; scope ``admin``.

Callers present an access token for the audience ``codelab-auth`` (RFC 8707
``resource=codelab-auth``) carrying the ``admin`` scope. It is checked with the same
verifier the other services use (``codelab_common.jwt``), against this service's own
JWKS and revoked-jti list.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from codelab_auth.adapters.models import AuditEvent, Client, User
from codelab_auth.admin import ClientSpec, upsert_client, upsert_user
from codelab_auth.context import ContextDep
from codelab_auth.errors import InvalidAdminInput
from codelab_common.jwt import AccessTokenClaims, InvalidToken, JwtVerifier, bearer_from_header

ADMIN_AUDIENCE = "codelab-auth"
router = APIRouter(prefix="/admin", tags=["admin"])


async def require_admin(request: Request) -> AccessTokenClaims:
    token = bearer_from_header(request.headers.get("authorization"))
    if token is None:
        raise InvalidToken("an admin access token is required")
    verifier: JwtVerifier = request.app.state.admin_verifier
    claims = await verifier.verify(token)
    claims.require_scope("admin")
    return claims


AdminDep = Annotated[AccessTokenClaims, Depends(require_admin)]


class UserIn(BaseModel):
    """A user to create or update; no password keeps the stored one."""

    roles: list[str] = Field(max_length=10)
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    disabled: bool = False


class UserOut(BaseModel):
    """A user as listed (never the password hash)."""

    id: str
    username: str
    roles: list[str]
    disabled: bool
    created_at: datetime


class ClientIn(BaseModel):
    """A client to create or update; no secret keeps the stored one."""

    scopes: list[str] = Field(max_length=20)
    audience: str = Field(min_length=1, max_length=200)
    grant_types: list[str] = Field(min_length=1, max_length=5)
    secret: str | None = Field(default=None, min_length=16, max_length=1024)
    public: bool = False
    allow_password_grant: bool = False
    name: str = Field(default="", max_length=200)
    allowed_audiences: list[str] = Field(default_factory=list, max_length=10)
    redirect_uris: list[str] = Field(default_factory=list, max_length=10)


class ClientOut(BaseModel):
    """A client as listed (never the secret hash)."""

    client_id: str
    name: str
    public: bool
    grant_types: list[str]
    scopes: list[str]
    default_audience: str
    allowed_audiences: list[str]
    allow_password_grant: bool
    redirect_uris: list[str]


def _client_out(row: Client) -> ClientOut:
    return ClientOut(
        client_id=row.client_id,
        name=row.name,
        public=row.secret_hash is None,
        grant_types=row.grant_types,
        scopes=row.scopes,
        default_audience=row.default_audience,
        allowed_audiences=row.allowed_audiences,
        allow_password_grant=row.allow_password_grant,
        redirect_uris=row.redirect_uris,
    )


@router.get("/users", summary="List users")
async def list_users(context: ContextDep, admin: AdminDep) -> list[UserOut]:
    async with context.sessions() as session:
        rows = (await session.scalars(select(User).order_by(User.username))).all()
    return [
        UserOut(
            id=str(r.id),
            username=r.username,
            roles=r.roles,
            disabled=r.disabled,
            created_at=r.created_at,
        )
        for r in rows
    ]


@router.put("/users/{username}", summary="Create or update a user")
async def put_user(
    username: Annotated[str, Field(min_length=1, max_length=150)],
    body: UserIn,
    context: ContextDep,
    admin: AdminDep,
) -> dict[str, Any]:
    async with context.sessions.begin() as session:
        created = await upsert_user(
            session,
            context.policy.hasher,
            username,
            body.roles,
            body.password,
            body.disabled,
            actor=admin.sub,
        )
    return {"username": username, "created": created}


@router.get("/clients", summary="List clients")
async def list_clients(context: ContextDep, admin: AdminDep) -> list[ClientOut]:
    async with context.sessions() as session:
        rows = (await session.scalars(select(Client).order_by(Client.client_id))).all()
    return [_client_out(row) for row in rows]


@router.put("/clients/{client_id}", summary="Create or update a client or service account")
async def put_client(
    client_id: str, body: ClientIn, context: ContextDep, admin: AdminDep
) -> dict[str, Any]:
    if not 0 < len(client_id) <= 150:
        raise InvalidAdminInput("client_id must be 1-150 characters")
    spec = ClientSpec(
        client_id=client_id,
        scopes=tuple(body.scopes),
        audience=body.audience,
        grant_types=tuple(body.grant_types),
        secret=body.secret,
        public=body.public,
        allow_password_grant=body.allow_password_grant,
        name=body.name,
        allowed_audiences=tuple(body.allowed_audiences),
        redirect_uris=tuple(body.redirect_uris),
    )
    async with context.sessions.begin() as session:
        created = await upsert_client(session, context.policy.hasher, spec, actor=admin.sub)
    return {"client_id": client_id, "created": created}


@router.get("/audit", summary="Recent audit events, newest first")
async def audit_log(
    context: ContextDep,
    admin: AdminDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    event: Annotated[str | None, Query(max_length=50)] = None,
) -> list[dict[str, Any]]:
    query = select(AuditEvent).order_by(AuditEvent.at.desc()).limit(limit)
    if event:
        query = query.where(AuditEvent.event == event)
    async with context.sessions() as session:
        rows = (await session.scalars(query)).all()
    return [
        {
            "at": r.at.isoformat(),
            "event": r.event,
            "outcome": r.outcome,
            "subject": r.subject,
            "client_id": r.client_id,
            "ip": r.ip,
            "detail": r.detail,
        }
        for r in rows
    ]
