"""The Starlette ⇄ authlib adapter (authlib ships none for Starlette servers).

Inbound: a Starlette request's form and headers become an authlib ``OAuth2Request``.
Outbound: authlib's ``(status, body, headers)`` becomes a Starlette ``Response``.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

OAuthResult = tuple[int, Any, list[tuple[str, str]]]


class FormPayload(OAuth2Payload):  # type: ignore[misc]
    """The form parameters of a token or revocation request."""

    def __init__(self, datalist: Mapping[str, list[str]]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list, datalist)
        self._data = {key: values[0] for key, values in datalist.items() if values}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class FormOAuth2Request(OAuth2Request):  # type: ignore[misc]
    """An ``OAuth2Request`` over already-read form data, safe to use off the event loop.

    ``issued_audience`` carries the audience chosen while minting the access token to
    ``save_token``, which must store it with the refresh token; ``issued_jti`` and
    ``issued_family`` let the code grant remember what an exchange issued.
    """

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], form: FormPayload):
        super().__init__(method=method, uri=uri, headers=headers)
        self.payload = form
        self.issued_audience: str | None = None
        # Filled while minting, read by save_token / the code grant (replay revocation).
        self.issued_jti: str | None = None
        self.issued_family: uuid.UUID | None = None
        # RFC 9449: thumbprint of the key of a verified DPoP proof sent with the request.
        self.dpop_jkt: str | None = None

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data  # type: ignore[no-any-return]

    @property
    def args(self) -> dict[str, str]:
        return {}


MAX_PARAM_LENGTH = 4096  # longer values are abuse, not OAuth (the longest is a JWT-free URI)
# Protocol parameters are ASCII (RFC 6749 Appendix A: VSCHAR / NQSCHAR); authlib echoes some
# of them in error descriptions, which it refuses to build with other characters (a 500).
# Credentials typed by people (username, password) may be any Unicode.
FREE_TEXT = frozenset({"username", "password"})


def _is_vschar(value: str) -> bool:
    return all(" " <= ch <= "~" for ch in value)


def read_params(items: Iterable[tuple[str, Any]]) -> dict[str, str]:
    """Form or query parameters as a dict, refusing repeats and oversized values.

    RFC 6749 §3.1/§3.2: request parameters MUST NOT be included more than once.
    """
    datalist: dict[str, list[str]] = {}
    for key, value in items:
        if not isinstance(value, str):
            raise InvalidRequestError("File uploads are not accepted.")
        if len(key) > 100 or len(value) > MAX_PARAM_LENGTH:
            raise InvalidRequestError("A request parameter is too long.")
        if not _is_vschar(key) or (key not in FREE_TEXT and not _is_vschar(value)):
            raise InvalidRequestError("A request parameter has characters outside ASCII.")
        datalist.setdefault(key, []).append(value)
    if repeated := sorted(key for key, values in datalist.items() if len(values) > 1):
        raise InvalidRequestError(f"Repeated parameter: {', '.join(repeated)}"[:200])
    return {key: values[0] for key, values in datalist.items()}


def oauth2_request(
    request: Request, public_base_url: str, params: dict[str, str]
) -> FormOAuth2Request:
    """The authlib request for ``params`` read from ``request``.

    The URI given to authlib is the PUBLIC one (issuer + path): TLS ends at nginx, so
    the scheme seen here says nothing about the transport the client used, and
    authlib refuses non-HTTPS URIs other than loopback.
    """
    datalist = {key: [value] for key, value in params.items()}
    uri = f"{public_base_url}{request.url.path}"
    return FormOAuth2Request(request.method, uri, request.headers, FormPayload(datalist))


async def read_oauth2_request(request: Request, public_base_url: str) -> FormOAuth2Request:
    """Read a form-encoded token/revocation/introspection request (RFC 6749 §3.2)."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        raise InvalidRequestError("The body must be application/x-www-form-urlencoded.")
    try:
        form = await request.form()
    except Exception as exc:  # python-multipart raises several unrelated types
        raise InvalidRequestError("The form body cannot be parsed.") from exc
    return oauth2_request(request, public_base_url, read_params(form.multi_items()))


def error_result(error: OAuth2Error) -> OAuthResult:
    """An authlib error as ``(status, body, headers)``."""
    status, body, headers = error()
    return status, body, headers


def to_response(result: OAuthResult) -> Response:
    """authlib's result as a JSON response with its headers (``Cache-Control: no-store``)."""
    status, body, headers = result
    response = JSONResponse(body, status_code=status)
    for name, value in headers:
        if name.lower() != "content-type":
            response.headers[name] = value
    return response
