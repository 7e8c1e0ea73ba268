"""Errors the auth service raises on purpose (outside the OAuth token protocol).

Token-endpoint errors are RFC 6749 JSON produced by authlib; everything else is a
:class:`~codelab_common.errors.CodelabError` rendered as problem+json.
"""

from __future__ import annotations

from codelab_common.errors import BadRequest, CodelabError


class KeyDecryptionError(CodelabError):
    """A stored signing key cannot be decrypted: the key-encryption secret changed."""

    status = 500
    code = "signing_key_unreadable"
    title = "Signing key cannot be decrypted"


class InvalidAdminInput(BadRequest):
    """An admin command got a value it cannot store (unknown role, empty scope...)."""

    code = "invalid_admin_input"
    title = "Invalid admin input"
