"""RS256 signing keys: generation, encryption at rest, rotation and the published JWKS."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

from joserfc.jwk import RSAKey
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from codelab_auth.adapters.models import SigningKey
from codelab_auth.errors import KeyDecryptionError
from codelab_common.db import serialise_across_replicas

ALGORITHM = "RS256"
NEXT = "next"  # published ahead of use, so verifiers know it before it signs
ACTIVE = "active"  # signs new tokens (the newest one does) and is published
RETIRED = "retired"  # no longer signs, still published so its tokens verify until they expire
EXPIRED = "expired"  # neither signs nor is published; kept for the record
PUBLISHED = (NEXT, ACTIVE, RETIRED)
log = logging.getLogger(__name__)
# Held while the key table is read and changed (first key, rotation), across replicas.
KEY_LIFECYCLE_LOCK = "codelab-auth-key-lifecycle"


@dataclass(frozen=True)
class LoadedKey:
    """A decrypted private key ready to sign, with its ``kid``."""

    kid: str
    key: RSAKey


def new_signing_key(secret: SecretStr, status: str = ACTIVE) -> tuple[SigningKey, LoadedKey]:
    """A fresh 2048-bit RSA key: as a row (PKCS#8 encrypted with ``secret``) and usable.

    ``kid`` is the RFC 7638 thumbprint, so the same key always has the same id.
    """
    key = RSAKey.generate_key(2048, private=True)
    kid = key.thumbprint()
    # cryptography's BestAvailableEncryption (used by joserfc for a password) gives a
    # PBKDF2-derived key and AES-256 — no home-made crypto here.
    pem = key.as_pem(private=True, password=secret.get_secret_value())
    public = {**key.as_dict(private=False), "kid": kid, "use": "sig", "alg": ALGORITHM}
    row = SigningKey(
        kid=kid, private_key_encrypted=pem.decode("ascii"), public_jwk=public, status=status
    )
    key = RSAKey.import_key(key.as_dict(private=True), parameters={"kid": kid, "use": "sig"})
    return row, LoadedKey(kid=kid, key=key)


def decrypt_signing_key(row: SigningKey, secret: SecretStr) -> LoadedKey:
    """The usable private key of ``row``; a wrong secret is a loud, typed error."""
    try:
        key = RSAKey.import_key(
            row.private_key_encrypted.encode("ascii"),
            parameters={"kid": row.kid, "use": "sig", "alg": ALGORITHM},
            password=secret.get_secret_value(),
        )
    except (ValueError, TypeError) as exc:
        raise KeyDecryptionError(
            f"signing key {row.kid} cannot be decrypted; was CODELAB_AUTH_KEY_ENCRYPTION_SECRET "
            "changed?"
        ) from exc
    return LoadedKey(kid=row.kid, key=key)


class Keyring:
    """The service's view of ``signing_keys``: decrypted once, re-read every ``cache_ttl``.

    Re-reading lets a running service pick up a key made by ``codelab-auth keys rotate`` or
    promoted by the scheduled rotation on another replica.
    """

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], secret: SecretStr, cache_ttl: float
    ) -> None:
        self._sessions = sessions
        self._secret = secret
        self._cache_ttl = cache_ttl
        self._jwks: list[dict[str, Any]] = []
        self._signing: LoadedKey | None = None
        self._loaded_at = -float("inf")
        self._lock = asyncio.Lock()

    async def ensure_key(self) -> None:
        """Generate the first key when the table has no active one, then load."""
        async with self._sessions.begin() as session:
            # Replicas booting on an empty table must not each generate a first key.
            await serialise_across_replicas(session, KEY_LIFECYCLE_LOCK)
            if await _newest_active(session) is None:
                row, loaded = await asyncio.to_thread(new_signing_key, self._secret)
                session.add(row)
                self._signing = loaded  # spares reload() a PBKDF2 decryption
                log.info("generated the first signing key", extra={"kid": row.kid})
        await self.reload()

    async def reload(self) -> None:
        """Read the keys now; decrypt the signing key only when it changed."""
        async with self._sessions() as session:
            rows = (
                await session.scalars(
                    select(SigningKey)
                    .where(SigningKey.status.in_(PUBLISHED))
                    .order_by(SigningKey.created_at.desc())
                )
            ).all()
        newest = next((row for row in rows if row.status == ACTIVE), None)
        if newest is None:
            raise KeyDecryptionError("no active signing key; run `codelab-auth keys rotate`")
        if self._signing is None or self._signing.kid != newest.kid:
            self._signing = await asyncio.to_thread(decrypt_signing_key, newest, self._secret)
        self._jwks = [dict(row.public_jwk) for row in rows]
        self._loaded_at = time.monotonic()

    async def _fresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._loaded_at >= self._cache_ttl:
                await self.reload()

    async def signing_key(self) -> LoadedKey:
        """The key new tokens are signed with (the newest active one)."""
        await self._fresh()
        assert self._signing is not None
        return self._signing

    async def jwks(self) -> dict[str, Any]:
        """The public JWK Set: the next, the active and the recently retired keys."""
        await self._fresh()
        return {"keys": list(self._jwks)}


async def _newest_active(session: AsyncSession) -> SigningKey | None:
    return await session.scalar(
        select(SigningKey)
        .where(SigningKey.status == ACTIVE)
        .order_by(SigningKey.created_at.desc())
        .limit(1)
    )
