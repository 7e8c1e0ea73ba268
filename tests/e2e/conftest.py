"""Fixtures of the e2e suite; the mesh boots once per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from codelab_testing.mesh_fixture import RunningMesh, boot_mesh


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningMesh]:
    yield from boot_mesh(tmp_path_factory.mktemp("mesh"))
