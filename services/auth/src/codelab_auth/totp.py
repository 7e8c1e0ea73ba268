"""Optional second factor: TOTP (RFC 6238, via ``cryptography``) and recovery codes.

The shared secret is encrypted at rest (Fernet, key derived from the key-encryption
secret with HKDF). A code is accepted for the current step ±1 (clock skew) and only
once: the last accepted step is stored. Recovery codes are 10 random single-use codes,
stored as SHA-256 (they carry ~50 bits of entropy each, like a token, not a password).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives.hashes import SHA1, SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.twofactor.totp import TOTP
from pydantic import SecretStr

STEP = 30
DIGITS = 6
RECOVERY_CODES = 10


def _totp(secret: bytes) -> TOTP:
    return TOTP(secret, DIGITS, SHA1(), STEP, enforce_key_length=True)


def hash_recovery_code(code: str) -> str:
    normalized = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normalized.encode()).hexdigest()


@dataclass(frozen=True)
class Enrollment:
    """What a user needs once: the otpauth URI (QR code) and the recovery codes."""

    encrypted_secret: str
    provisioning_uri: str
    recovery_codes: list[str]


class TotpCodec:
    """Encrypts TOTP secrets and checks codes."""

    def __init__(self, key_secret: SecretStr, issuer_name: str = "CodeLab") -> None:
        key = HKDF(SHA256(), 32, salt=None, info=b"codelab-auth totp").derive(
            key_secret.get_secret_value().encode()
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(key))
        self._issuer_name = issuer_name

    def enroll(self, username: str) -> Enrollment:
        secret = os.urandom(20)  # 160 bits, RFC 4226's recommendation
        codes = [f"{secrets.token_hex(3)}-{secrets.token_hex(3)}" for _ in range(RECOVERY_CODES)]
        return Enrollment(
            encrypted_secret=self._fernet.encrypt(secret).decode(),
            provisioning_uri=_totp(secret).get_provisioning_uri(username, self._issuer_name),
            recovery_codes=codes,
        )

    def secret(self, encrypted: str) -> bytes:
        try:
            return self._fernet.decrypt(encrypted.encode())
        except InvalidToken as exc:
            raise ValueError("TOTP secret cannot be decrypted") from exc

    def matching_step(
        self, encrypted: str, code: str, last_step: int | None, now: float | None = None
    ) -> int | None:
        """The time step ``code`` is valid for (current ±1, after ``last_step``), or None."""
        if not (code.isdigit() and len(code) == DIGITS):
            return None
        totp = _totp(self.secret(encrypted))
        now = time.time() if now is None else now
        current = int(now // STEP)
        for step in (current - 1, current, current + 1):
            if last_step is not None and step <= last_step:
                continue
            if hmac.compare_digest(totp.generate(step * STEP), code.encode()):
                return step
        return None
