"""Fixtures: a SQLite store per test, a memory channel, a running replica, an editor client."""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from runtime_helpers import EditorClient, Replica, make_replica

from codelab_common.sessions import MemorySessionChannel
from codelab_runtime.persistence.store import SessionStore, create_engine, migrate


@pytest.fixture(autouse=True)
def _no_network_models(monkeypatch: pytest.MonkeyPatch) -> None:
    # The kill switch: nothing built from settings in these tests may call a real model.
    monkeypatch.setenv("CODELAB_RUNTIME_ALLOW_MODEL_REQUESTS", "false")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SessionStore]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'runtime.db'}")
    await migrate(engine)
    yield SessionStore(engine)
    await engine.dispose()


@pytest.fixture
def channel() -> MemorySessionChannel:
    return MemorySessionChannel()


@pytest.fixture
async def replica(channel: MemorySessionChannel, store: SessionStore) -> AsyncIterator[Replica]:
    rep = make_replica(channel, store, "rt-a")
    rep.supervisor.start()
    yield rep
    await rep.supervisor.stop()


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "app.py").write_text("def add(a, b):\n    return a - b\n")
    return ws


@pytest.fixture
async def client(channel: MemorySessionChannel, workspace: Path) -> EditorClient:
    editor = EditorClient(channel, f"sess_{uuid.uuid4().hex}", workspace)
    await editor.create()
    return editor
