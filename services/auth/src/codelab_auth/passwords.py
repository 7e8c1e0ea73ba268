"""Argon2id hashing of user passwords and client secrets."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError


class SecretHasher:
    """Hashes and verifies secrets; verification of an unknown account costs the same.

    ``dummy_verify`` exists so that "no such user" takes as long as "wrong password"
    and the token endpoint cannot be used to enumerate usernames by timing.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash("codelab-dummy-secret")

    def hash(self, secret: str) -> str:
        """An encoded Argon2id hash (parameters and salt included)."""
        return self._hasher.hash(secret)

    def verify(self, encoded: str, secret: str) -> bool:
        """True when ``secret`` matches ``encoded``; never raises on a mismatch."""
        try:
            return self._hasher.verify(encoded, secret)
        except (VerificationError, InvalidHashError):
            return False

    def dummy_verify(self, secret: str) -> bool:
        """Burn the time a real verification would take; always False."""
        self.verify(self._dummy_hash, secret)
        return False
