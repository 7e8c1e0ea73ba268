"""CSRF protection of the login form: the double-submit cookie pattern (OWASP).

The page sets a random value in a ``SameSite=Strict``, ``HttpOnly`` cookie and in a
hidden field; a POST is accepted only when both are present and equal. A cross-site
form can send neither the cookie (SameSite) nor guess the field.
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.responses import Response

COOKIE = "codelab_auth_csrf"
FIELD = "csrf_token"
MAX_AGE = 600


def new_token() -> str:
    return secrets.token_urlsafe(32)


def set_cookie(response: Response, token: str, issuer: str) -> None:
    """No ``Path``: the browser's default (the authorize URL's directory) is right both
    behind nginx's ``/auth`` prefix and when the service is reached directly."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=MAX_AGE,
        path=None,
        secure=urlsplit(issuer).scheme == "https",
        httponly=True,
        samesite="strict",
    )


def is_valid(cookie: str | None, field: str | None) -> bool:
    """Both present and equal, compared in constant time."""
    if not cookie or not field:
        return False
    return hmac.compare_digest(cookie.encode(), field.encode())
