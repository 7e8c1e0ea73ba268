"""Role → scope mapping and the requested-vs-allowed rule."""

from __future__ import annotations

import pytest

from codelab_auth.scopes import ScopeNotAllowed, grant_scope, scopes_for_roles


def test_role_scopes() -> None:
    assert scopes_for_roles(["admin"]) == {"admin", "sessions:read", "sessions:write"}
    assert scopes_for_roles(["viewer", "service"]) == {"sessions:read", "llm:invoke"}
    assert scopes_for_roles(["nobody"]) == frozenset()


def test_no_request_grants_everything_allowed() -> None:
    assert grant_scope(None, frozenset({"b", "a"})) == "a b"
    assert grant_scope("", frozenset()) == ""


def test_request_inside_allowed_is_granted_as_asked() -> None:
    assert grant_scope("a", frozenset({"a", "b"})) == "a"


def test_request_outside_allowed_is_refused() -> None:
    with pytest.raises(ScopeNotAllowed, match="c"):
        grant_scope("a c", frozenset({"a", "b"}))
