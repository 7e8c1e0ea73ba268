"""Device authorization grant (RFC 8628): the device endpoint, the polling grant, approval.

The device code is a secret stored hashed; the user code is short, typed by a human,
and stored normalised (upper case, no separators). Polling faster than ``interval``
answers ``slow_down``; an approved code is claimed atomically, so it issues tokens once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749.errors import InvalidGrantError, InvalidScopeError
from authlib.oauth2.rfc8628 import (
    DEVICE_CODE_GRANT_TYPE,
    DeviceAuthorizationEndpoint,
    DeviceCodeGrant,
    DeviceCredentialMixin,
)
from sqlalchemy import CursorResult, select, update

from codelab_auth.adapters.models import DeviceCode, User, utcnow
from codelab_auth.oauth.grants import TOKEN_AUTH_METHODS, MintingGrant
from codelab_auth.scopes import parse_scope
from codelab_auth.tokens import hash_refresh_token

if TYPE_CHECKING:
    from codelab_auth.oauth.server import CodelabAuthorizationServer

PENDING, APPROVED, DENIED, USED = "pending", "approved", "denied", "used"


def normalize_user_code(value: str) -> str:
    """What a human typed, as stored: ``wdjb-mjht`` → ``WDJBMJHT``."""
    return "".join(ch for ch in value.upper() if ch.isalnum())[:20]


class StoredDeviceCode(DeviceCredentialMixin):  # type: ignore[misc]
    """A device-code row as authlib sees it."""

    def __init__(self, row: DeviceCode) -> None:
        self.row = row

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_scope(self) -> str:
        return self.row.scope

    def get_user_code(self) -> str:
        return self.row.user_code

    def is_expired(self) -> bool:
        return self.row.expires_at <= utcnow()


class DeviceEndpoint(DeviceAuthorizationEndpoint):  # type: ignore[misc]
    """``POST /oauth/device_authorization``: a device code and a user code for a client."""

    CLIENT_AUTH_METHODS = TOKEN_AUTH_METHODS
    server: CodelabAuthorizationServer

    @property
    def EXPIRES_IN(self) -> int:
        return self.server.policy.device_code_ttl

    @property
    def INTERVAL(self) -> int:
        return self.server.policy.device_poll_interval

    def get_verification_uri(self) -> str:
        return f"{self.server.signer.issuer}/oauth/device"

    def save_device_credential(
        self, client_id: str, scope: str | None, data: dict[str, Any]
    ) -> None:
        client = self.server.query_client(client_id)
        assert client is not None  # authenticated just before
        if not client.check_grant_type(DEVICE_CODE_GRANT_TYPE):
            raise InvalidGrantError("This client may not use the device authorization grant.")
        if not parse_scope(scope) <= client.scopes:
            raise InvalidScopeError("Scope not allowed for this client.")
        now = utcnow()
        self.server.session.add(
            DeviceCode(
                device_code_hash=hash_refresh_token(data["device_code"]),
                user_code=normalize_user_code(data["user_code"]),
                client_id=client_id,
                scope=scope or "",
                status=PENDING,
                created_at=now,
                expires_at=now + timedelta(seconds=self.EXPIRES_IN),
            )
        )


class DeviceGrant(MintingGrant, DeviceCodeGrant):  # type: ignore[misc]
    """The polling side: pending, slow_down, access_denied, expired_token, or tokens."""

    TOKEN_ENDPOINT_AUTH_METHODS = TOKEN_AUTH_METHODS
    server: CodelabAuthorizationServer

    def query_device_credential(self, device_code: str) -> StoredDeviceCode | None:
        row = self.server.session.scalar(
            select(DeviceCode).where(DeviceCode.device_code_hash == hash_refresh_token(device_code))
        )
        if row is None:
            return None
        if row.status == USED:
            raise InvalidGrantError("The device code was already used.")
        return StoredDeviceCode(row)

    def query_user_grant(self, user_code: str) -> tuple[User, bool] | None:
        row = self.server.session.scalar(
            select(DeviceCode).where(DeviceCode.user_code == user_code)
        )
        if row is None or row.status == PENDING or row.user_id is None:
            return None
        user = self.server.store.user(row.user_id)
        if user is None or user.disabled:
            return None
        return user, row.status == APPROVED

    def should_slow_down(self, credential: StoredDeviceCode) -> bool:
        row = credential.row
        now = utcnow()
        last, row.last_polled_at = row.last_polled_at, now
        interval = timedelta(seconds=self.server.policy.device_poll_interval)
        return last is not None and now - last < interval

    def create_token_response(self) -> tuple[int, Any, list[tuple[str, str]]]:
        row: DeviceCode = self.request.credential.row
        result = self.server.session.execute(
            update(DeviceCode)
            .where(DeviceCode.id == row.id, DeviceCode.status == APPROVED)
            .values(status=USED)
            .execution_options(synchronize_session=False)
        )
        assert isinstance(result, CursorResult)
        if result.rowcount != 1:
            raise InvalidGrantError("The device code was already used.")
        response: tuple[int, Any, list[tuple[str, str]]] = super().create_token_response()
        return response


def find_pending(session: Any, user_code: str) -> DeviceCode | None:
    """The pending, unexpired device authorization a human typed the code of."""
    row: DeviceCode | None = session.scalar(
        select(DeviceCode).where(DeviceCode.user_code == normalize_user_code(user_code))
    )
    if row is None or row.status != PENDING or row.expires_at <= utcnow():
        return None
    return row
