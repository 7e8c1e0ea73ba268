"""The committed nginx configs are the template rendered for compose and Kubernetes."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml


@pytest.fixture(scope="module")
def renderer(root: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "codelab_deploy_render_nginx", root / "deploy/compose/render_nginx.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is being built.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_committed_configs_match_the_template(renderer: ModuleType) -> None:
    template = renderer.TEMPLATE.read_text()
    for target in renderer.TARGETS:
        expected = renderer.render(template, target)
        assert target.path.read_text() == expected, (
            f"{target.path} is stale: run `uv run python deploy/compose/render_nginx.py`"
        )
        assert "@@" not in expected


def test_compose_upstreams_are_compose_services(renderer: ModuleType, root: Path) -> None:
    compose = yaml.safe_load((root / "docker-compose.yml").read_text())
    text = (root / "deploy/compose/nginx.conf").read_text()
    servers = re.findall(r"^\s*server (\S+?)(?: |;)", text, re.MULTILINE)
    assert servers == ["auth:8081", "gateway-1:8082", "gateway-2:8082"]
    for server in servers:
        assert server.split(":")[0] in compose["services"]
    mount = "./deploy/compose/nginx.conf:/etc/nginx/codelab.conf:ro"
    assert mount in compose["services"]["nginx"]["volumes"]


def test_k8s_upstreams_are_k8s_services(root: Path) -> None:
    docs = [
        doc
        for path in (root / "deploy/k8s").glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc and doc.get("kind") == "Service"
    ]
    ports = {f"{d['metadata']['name']}:{p['port']}" for d in docs for p in d["spec"]["ports"]}
    text = (root / "deploy/k8s/nginx.conf").read_text()
    servers = re.findall(r"^\s*server (\S+?)(?: |;)", text, re.MULTILINE)
    assert servers == ["codelab-auth:8081", "codelab-gateway:8082"]
    assert set(servers) <= ports


@pytest.mark.parametrize("name", ["compose", "k8s"])
def test_rendered_config_passes_nginx_t(root: Path, tmp_path: Path, name: str) -> None:
    binary = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if binary is None:
        pytest.skip("nginx is not installed (apt-get install nginx-light)")
    text = (root / f"deploy/{name}/nginx.conf").read_text()
    # Container hostnames do not resolve here and /tmp/codelab-nginx is the container's path:
    # swap both for local equivalents; everything else is checked as committed.
    text = text.replace("/tmp/codelab-nginx", str(tmp_path))
    text = re.sub(r"server [a-z0-9-]+:(\d+)", r"server 127.0.0.1:\1", text)
    # As the container command does: nginx creates the temp dirs, not their parent.
    (tmp_path / "logs").mkdir()
    (tmp_path / "tmp").mkdir()
    conf = tmp_path / "nginx.conf"
    conf.write_text(text)
    result = subprocess.run(
        [binary, "-t", "-c", str(conf), "-p", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
