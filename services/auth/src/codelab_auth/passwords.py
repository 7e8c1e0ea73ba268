"""Argon2id hashing of user passwords and client secrets."""

from __future__ import annotations

import hashlib
import hmac
import os
import time

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
        self.verified_client_secrets = VerifiedSecrets()

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


class VerifiedSecrets:
    """Client secrets that argon2 accepted recently, so a busy client does not pay ~100 ms
    of argon2 on every token request.

    Only successes are remembered (a guess always pays full price), keyed by an HMAC
    under a per-process random key (memory holds no secret or fast hash of one), and
    bound to the stored hash: rotating a client's secret invalidates the entry.
    """

    def __init__(self, ttl: float = 300.0, max_entries: int = 10_000) -> None:
        self._key = os.urandom(32)
        self._ttl = ttl
        self._max = max_entries
        self._until: dict[bytes, float] = {}

    def _entry(self, client_id: str, stored_hash: str, secret: str) -> bytes:
        message = "\x00".join((client_id, stored_hash, secret)).encode()
        return hmac.new(self._key, message, hashlib.sha256).digest()

    def known(self, client_id: str, stored_hash: str, secret: str) -> bool:
        until = self._until.get(self._entry(client_id, stored_hash, secret))
        return until is not None and until > time.monotonic()

    def remember(self, client_id: str, stored_hash: str, secret: str) -> None:
        if len(self._until) >= self._max:
            self._until.clear()  # crude but bounded; entries are cheap to rebuild
        self._until[self._entry(client_id, stored_hash, secret)] = time.monotonic() + self._ttl
