"""Roles, the scopes they confer, and how a requested scope becomes a granted one."""

from __future__ import annotations

from collections.abc import Iterable

ROLE_SCOPES: dict[str, frozenset[str]] = {
    "admin": frozenset({"admin", "sessions:read", "sessions:write"}),
    "developer": frozenset({"sessions:read", "sessions:write"}),
    "viewer": frozenset({"sessions:read"}),
    "service": frozenset({"llm:invoke"}),
}
KNOWN_ROLES = frozenset(ROLE_SCOPES)
# Shown on the consent page.
SCOPE_DESCRIPTIONS: dict[str, str] = {
    "sessions:read": "read your coding sessions and their history",
    "sessions:write": "start sessions and prompt the agents on your behalf",
    "llm:invoke": "call the language models",
    "llm:admin": "read everyone's model usage and manage the model response caches",
    "admin": "administer users, clients and keys",
}
# llm:admin is conferred by no role: it is registered on the clients that need it.
SUPPORTED_SCOPES: tuple[str, ...] = tuple(
    sorted(set().union(*ROLE_SCOPES.values()) | {"llm:admin"})
)


class ScopeNotAllowed(Exception):
    """The request asked for at least one scope the caller may not have."""


def parse_scope(value: str | None) -> frozenset[str]:
    """A space-separated scope string (RFC 6749 §3.3) as a set."""
    return frozenset((value or "").split())


def format_scope(scopes: Iterable[str]) -> str:
    """A set of scopes as a stable space-separated string."""
    return " ".join(sorted(set(scopes)))


def scopes_for_roles(roles: Iterable[str]) -> frozenset[str]:
    """Every scope any of ``roles`` confers; unknown roles confer nothing."""
    granted: set[str] = set()
    for role in roles:
        granted |= ROLE_SCOPES.get(role, frozenset())
    return frozenset(granted)


def grant_scope(requested: str | None, allowed: frozenset[str]) -> str:
    """The scope to put in the token.

    No requested scope means everything allowed (RFC 6749 §3.3 lets the server pick a
    default); asking for anything outside ``allowed`` is refused rather than silently
    narrowed, so a client learns at once that it is misconfigured.
    """
    wanted = parse_scope(requested)
    if not wanted:
        return format_scope(allowed)
    if not wanted <= allowed:
        raise ScopeNotAllowed(format_scope(wanted - allowed))
    return format_scope(wanted)
