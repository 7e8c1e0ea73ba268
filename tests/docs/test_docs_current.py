"""Docs that are generated from code, or that name commands, stay true."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _load_generator() -> object:
    spec = importlib.util.spec_from_file_location(
        "gen_config_docs", ROOT / "scripts/gen_config_docs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_configuration_reference_matches_the_settings_classes() -> None:
    generator = _load_generator()
    expected = generator.render()  # type: ignore[attr-defined]
    actual = (ROOT / "docs/configuration.md").read_text()
    assert actual == expected, "run: uv run python scripts/gen_config_docs.py"


def test_every_setting_is_described() -> None:
    text = (ROOT / "docs/configuration.md").read_text()
    undocumented = [
        line for line in text.splitlines() if line.startswith("| `") and line.endswith("|  |")
    ]
    assert undocumented == []


def test_readme_commands_exist() -> None:
    readme = (ROOT / "README.md").read_text()
    for script in re.findall(r"bash (scripts/[\w./-]+\.sh)", readme):
        assert (ROOT / script).is_file(), script
    assert "bash scripts/run.sh" in readme
    assert "bash scripts/test.sh" in readme
    ci = (ROOT / ".ci/run").read_text()
    assert "scripts/test.sh" in ci


def test_docs_links_resolve() -> None:
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name} links to missing {target}"
