"""Checking a username and password, identically for the password grant and the login page."""

from __future__ import annotations

from codelab_auth.adapters.db import await_in_sync
from codelab_auth.adapters.models import User
from codelab_auth.oauth.store import OAuthStore
from codelab_auth.passwords import SecretHasher
from codelab_auth.totp import TotpCodec, hash_recovery_code

BAD_CREDENTIALS = "Invalid username or password."  # one message: no user enumeration
THROTTLED = "Too many failed sign-in attempts; try again later."


class LoginThrottled(Exception):
    """Too many recent failures for this account or address: not even checked."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(THROTTLED)
        self.retry_after = retry_after


def check_password(
    store: OAuthStore, hasher: SecretHasher, username: str, password: str
) -> User | None:
    """The user when the password is right and the account enabled, else None.

    An unknown user still costs one argon2 verification (against a dummy hash), and a
    disabled one is checked like any other, so timing tells nothing either way.
    """
    user = store.user_by_name(username)
    if user is None:
        await_in_sync(hasher.dummy_verify, password)
        return None
    if not await_in_sync(hasher.verify, user.password_hash, password) or user.disabled:
        return None
    return user


def check_second_factor(store: OAuthStore, codec: TotpCodec, user: User, otp: str | None) -> bool:
    """True when the user has no TOTP, or ``otp`` is a fresh TOTP code or an unused
    recovery code (each accepted once)."""
    if user.totp_secret is None:
        return True
    otp = (otp or "").strip()
    if not otp or len(otp) > 64:
        return False
    step = codec.matching_step(user.totp_secret, otp, user.totp_last_step)
    if step is not None:
        return store.claim_totp_step(user, step)
    return store.claim_recovery_code(user, hash_recovery_code(otp))
