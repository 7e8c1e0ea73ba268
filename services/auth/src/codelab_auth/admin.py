"""Administrative operations shared by the CLI and startup seeding (idempotent upserts)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from codelab_auth.adapters.models import Client, User
from codelab_auth.audit import audit_async
from codelab_auth.errors import InvalidAdminInput
from codelab_auth.oauth.server import GRANT_TYPES
from codelab_auth.passwords import SecretHasher
from codelab_auth.scopes import KNOWN_ROLES, SUPPORTED_SCOPES

DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"  # documented demo credential, only seeded when asked for
CLI_CLIENT_ID = "codelab-cli"
# RFC 8252 §7.3: the CLI listens on any free loopback port with this path.
CLI_REDIRECT_URIS = ("http://127.0.0.1/callback", "http://[::1]/callback")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientSpec:
    """Everything ``create-client`` can set; ``secret`` None keeps the stored one."""

    client_id: str
    scopes: tuple[str, ...]
    audience: str
    grant_types: tuple[str, ...]
    secret: str | None = None
    public: bool = False
    allow_password_grant: bool = False
    name: str = ""
    allowed_audiences: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = field(default_factory=tuple)

    def validate(self) -> None:
        """Refuse values that would make a client nobody can use, or a confused one."""
        if unknown := set(self.scopes) - set(SUPPORTED_SCOPES):
            raise InvalidAdminInput(f"unknown scopes: {' '.join(sorted(unknown))}")
        if unknown := set(self.grant_types) - set(GRANT_TYPES):
            raise InvalidAdminInput(f"unsupported grant types: {' '.join(sorted(unknown))}")
        if not self.grant_types:
            raise InvalidAdminInput("a client needs at least one grant type")
        if not self.audience:
            raise InvalidAdminInput("a client needs a default audience")
        if self.public and self.secret is not None:
            raise InvalidAdminInput("a public client has no secret")
        if self.public and "client_credentials" in self.grant_types:
            raise InvalidAdminInput("client_credentials needs a confidential client")
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise InvalidAdminInput("authorization_code needs at least one --redirect-uri")
        for uri in self.redirect_uris:
            parts = urlsplit(uri)
            loopback = parts.scheme == "http" and parts.hostname in ("127.0.0.1", "::1")
            if parts.fragment or not parts.netloc or not (parts.scheme == "https" or loopback):
                raise InvalidAdminInput(f"redirect URI must be https or loopback http: {uri}")


async def upsert_user(
    session: AsyncSession,
    hasher: SecretHasher,
    username: str,
    roles: list[str],
    password: str | None,
    disabled: bool = False,
    actor: str = "cli",
) -> bool:
    """Create or update a user (roles, password, disabled). True when it was created.

    ``password`` None keeps the stored one (a new user needs one).
    """
    if unknown := set(roles) - KNOWN_ROLES:
        raise InvalidAdminInput(f"unknown roles: {' '.join(sorted(unknown))}")
    if not username or password == "":
        raise InvalidAdminInput("username and password must not be empty")
    user = await session.scalar(select(User).where(User.username == username))
    created = user is None
    if user is None and password is None:
        raise InvalidAdminInput("a new user needs a password")
    password_hash = await asyncio.to_thread(hasher.hash, password) if password else None
    if user is None:
        assert password_hash is not None
        user = User(username=username, password_hash=password_hash, roles=roles)
        session.add(user)
    elif password_hash is not None:
        user.password_hash = password_hash
    user.roles, user.disabled = roles, disabled
    await session.flush()
    await audit_async(
        session,
        "admin_change",
        subject=str(user.id),
        target="user",
        username=username,
        action="created" if created else "updated",
        roles=roles,
        disabled=disabled,
        password_changed=password_hash is not None,
        actor=actor,
    )
    return created


async def upsert_client(
    session: AsyncSession, hasher: SecretHasher, spec: ClientSpec, actor: str = "cli"
) -> bool:
    """Create or update a client from ``spec``. True when it was created."""
    spec.validate()
    client = await session.get(Client, spec.client_id)
    created = client is None
    if client is None:
        if not spec.public and spec.secret is None:
            raise InvalidAdminInput("a new confidential client needs a secret")
        client = Client(client_id=spec.client_id)
        session.add(client)
    if spec.public:
        client.secret_hash = None
    elif spec.secret is not None:
        client.secret_hash = await asyncio.to_thread(hasher.hash, spec.secret)
    elif client.secret_hash is None:
        raise InvalidAdminInput("turning a public client confidential needs a secret")
    grant_types = set(spec.grant_types) | ({"password"} if spec.allow_password_grant else set())
    client.name = spec.name or spec.client_id
    client.grant_types = sorted(grant_types)
    client.scopes = sorted(set(spec.scopes))
    client.default_audience = spec.audience
    client.allowed_audiences = sorted(set(spec.allowed_audiences) - {spec.audience})
    client.allow_password_grant = spec.allow_password_grant
    client.redirect_uris = list(spec.redirect_uris)
    await session.flush()
    await audit_async(
        session,
        "admin_change",
        client_id=spec.client_id,
        target="client",
        action="created" if created else "updated",
        grant_types=client.grant_types,
        scopes=client.scopes,
        secret_changed=spec.secret is not None,
        actor=actor,
    )
    return created


async def seed_demo(sessions: async_sessionmaker[AsyncSession], hasher: SecretHasher) -> None:
    """The demo user and the first-party CLI client; re-running changes nothing that matters.

    An existing ``demo`` user is left alone (an operator may have changed its password).
    """
    async with sessions.begin() as session:
        exists = await session.scalar(select(User.id).where(User.username == DEMO_USERNAME))
        if exists is None:
            await upsert_user(session, hasher, DEMO_USERNAME, ["developer"], DEMO_PASSWORD)
        await upsert_client(
            session,
            hasher,
            ClientSpec(
                client_id=CLI_CLIENT_ID,
                name="CodeLab CLI",
                scopes=("sessions:read", "sessions:write"),
                audience="codelab-gateway",
                grant_types=(
                    "authorization_code",
                    "urn:ietf:params:oauth:grant-type:device_code",
                    "password",
                    "refresh_token",
                ),
                public=True,
                allow_password_grant=True,
                redirect_uris=CLI_REDIRECT_URIS,
            ),
        )
    log.info(
        "demo user exists",
        extra={"username": DEMO_USERNAME, "roles": ["developer"], "client_id": CLI_CLIENT_ID},
    )
