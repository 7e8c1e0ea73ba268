"""Typed errors shared by every service, rendered in one place per transport.

HTTP renders them as RFC 9457 problem details (see :mod:`codelab_common.app`);
the ACP socket renders them as JSON-RPC error objects (see :mod:`codelab_common.protocol`).
"""

from __future__ import annotations

from typing import Any, ClassVar


class CodelabError(Exception):
    """Base of every error we raise on purpose; ``code`` is stable and machine-readable."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    title: ClassVar[str] = "Internal error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra

    def problem(self, instance: str | None = None) -> dict[str, Any]:
        """The RFC 9457 problem-details body for this error."""
        body: dict[str, Any] = {
            "type": f"https://codelab.dev/problems/{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        if instance:
            body["instance"] = instance
        body.update(self.extra)
        return body


class BadRequest(CodelabError):
    """The request is malformed or violates a documented constraint."""

    status = 400
    code = "bad_request"
    title = "Bad request"


class Unauthorized(CodelabError):
    """No credentials, or credentials that do not verify."""

    status = 401
    code = "unauthorized"
    title = "Unauthorized"


class Forbidden(CodelabError):
    """Authenticated, but not allowed to do this."""

    status = 403
    code = "forbidden"
    title = "Forbidden"


class NotFound(CodelabError):
    """The named resource does not exist (or is not visible to the caller)."""

    status = 404
    code = "not_found"
    title = "Not found"


class Conflict(CodelabError):
    """The request conflicts with the current state of the resource."""

    status = 409
    code = "conflict"
    title = "Conflict"


class TooManyRequests(CodelabError):
    """A rate limit or budget was hit."""

    status = 429
    code = "too_many_requests"
    title = "Too many requests"


class UpstreamError(CodelabError):
    """A dependency we call answered wrongly or not at all."""

    status = 502
    code = "upstream_error"
    title = "Bad gateway"


class ServiceUnavailable(CodelabError):
    """A dependency this service needs is down."""

    status = 503
    code = "service_unavailable"
    title = "Service unavailable"
