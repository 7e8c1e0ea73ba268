"""Fixtures for codelab_testing's own tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# litellm downloads its model cost map at import unless told to use the bundled copy;
# no network here, so set this before any test module imports litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from codelab_testing.fake_provider import FakeProvider


def pytest_configure(config: pytest.Config) -> None:
    # litellm builds pydantic schemas for TypedDicts with ReadOnly items (a UserWarning,
    # turned into an error by the root filterwarnings) when it first imports parts of itself.
    config.addinivalue_line("filterwarnings", "ignore:Item.*ReadOnly:UserWarning")


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as running:
        yield running


@pytest.fixture(autouse=True)
def _fresh_scripts(provider: FakeProvider) -> None:
    provider.reset()
