"""DPoP (RFC 9449): this install's proof key and the proofs it signs.

One EC P-256 key per install, in ``dpop-key.json`` (0600) beside ``credentials.json``:
tokens the server binds to it (``cnf.jkt``) are useless to whoever copies only the
credentials file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from joserfc import jwt
from joserfc.jwk import ECKey
from pydantic import SecretStr

KEY_FILE = "dpop-key.json"
ALGORITHM = "ES256"


def _htu(url: str) -> str:
    # RFC 9449 §4.2: the target URI without query and fragment.
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


class DpopKey:
    """Signs DPoP proofs with this install's private key."""

    def __init__(self, key: ECKey) -> None:
        self.key = key
        self.public_jwk = key.as_dict(private=False)

    @classmethod
    def load_or_create(cls, directory: Path) -> DpopKey:
        """The key in ``directory``, generated (mode 0600) on first use."""
        path = directory / KEY_FILE
        if path.exists():
            return cls(ECKey.import_key(json.loads(path.read_text())))
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        key = ECKey.generate_key("P-256", private=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump(key.as_dict(private=True), handle)
        os.replace(tmp, path)  # atomic: two first runs at once end with one valid key
        return cls(ECKey.import_key(json.loads(path.read_text())))

    @property
    def thumbprint(self) -> str:
        """RFC 7638 thumbprint: what a bound token carries in ``cnf.jkt``."""
        return str(self.key.thumbprint())

    def proof(self, method: str, url: str, access_token: SecretStr | None = None) -> str:
        """A fresh single-use proof for ``method url`` (with ``ath`` at a resource server)."""
        header = {"typ": "dpop+jwt", "alg": ALGORITHM, "jwk": self.public_jwk}
        claims: dict[str, object] = {
            "jti": uuid.uuid4().hex,
            "htm": method.upper(),
            "htu": _htu(url),
            "iat": int(time.time()),
        }
        if access_token is not None:
            digest = hashlib.sha256(access_token.get_secret_value().encode("ascii")).digest()
            claims["ath"] = base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")
        return jwt.encode(header, claims, self.key, algorithms=[ALGORITHM])


class AccessToken(SecretStr):
    """An access token with its type (``Bearer`` or ``DPoP``) and, if bound, the proof key."""

    def __init__(self, value: str, token_type: str = "Bearer", key: DpopKey | None = None):
        super().__init__(value)
        self.token_type = token_type
        self.key = key

    @property
    def bound(self) -> bool:
        return self.key is not None and self.token_type.lower() == "dpop"


def authorization_headers(token: SecretStr, method: str, url: str) -> dict[str, str]:
    """``Authorization`` (and ``DPoP`` for a bound token) for a request to ``url``.

    ``url`` is the http(s) form even for the WebSocket upgrade: the gateway checks the
    proof against ``GET {public_url}/acp``.
    """
    if isinstance(token, AccessToken) and token.bound and token.key is not None:
        return {
            "Authorization": f"DPoP {token.get_secret_value()}",
            "DPoP": token.key.proof(method, url, token),
        }
    return {"Authorization": f"Bearer {token.get_secret_value()}"}
