"""docker-compose.yml: validates with docker-compose, wires the services as the mesh does."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

CODELAB_SERVICES = {
    "auth-init": "auth",
    "auth": "auth",
    "llm-proxy": "llm-proxy",
    "runtime-1": "runtime",
    "runtime-2": "runtime",
    "gateway-1": "gateway",
    "gateway-2": "gateway",
}
REQUIRED = {
    "POSTGRES_PASSWORD": "pg-test",
    "CODELAB_AUTH_KEY_ENCRYPTION_SECRET": "kek-test",
    "CODELAB_RUNTIME_CLIENT_SECRET": "client-test",
    "OPENAI_API_KEY": "sk-test",
    "GRAFANA_ADMIN_PASSWORD": "grafana-test",
}
SECRET_NAME = re.compile(r"SECRET|PASSWORD|API_KEY|DATABASE_URL")


@pytest.fixture(scope="module")
def compose(root: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((root / "docker-compose.yml").read_text())
    return data


def _compose_config(
    root: Path, tmp_path: Path, env: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    # An explicit, empty-but-for-our-values env file: a developer's .env must not leak in.
    env_file = tmp_path / "compose.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
    return subprocess.run(
        [binary, "--env-file", str(env_file), "-f", str(root / "docker-compose.yml"), "config"],
        capture_output=True,
        text=True,
        check=False,
        env={"PATH": "/usr/bin:/bin"},
        cwd=tmp_path,
        timeout=60,
    )


def test_compose_config_validates(root: Path, tmp_path: Path) -> None:
    result = _compose_config(root, tmp_path, REQUIRED)
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(CODELAB_SERVICES) | {"postgres", "redis", "nginx", "prometheus", "grafana"} <= set(
        services
    )
    runtime_env = services["runtime-2"]["environment"]
    assert runtime_env["CODELAB_RUNTIME_CLIENT_SECRET"] == "client-test"
    assert runtime_env["CODELAB_RUNTIME_INSTANCE_ID"] == "runtime-2"
    assert runtime_env["CODELAB_RUNTIME_DATABASE_URL"].endswith(":pg-test@postgres:5432/runtime")
    assert services["auth"]["depends_on"]["auth-init"]["condition"] == (
        "service_completed_successfully"
    )


@pytest.mark.parametrize("missing", sorted(REQUIRED))
def test_compose_names_each_missing_secret(root: Path, tmp_path: Path, missing: str) -> None:
    env = {k: v for k, v in REQUIRED.items() if k != missing}
    result = _compose_config(root, tmp_path, env)
    assert result.returncode != 0
    assert f"set {missing}" in result.stderr


def test_codelab_services_use_the_one_dockerfile(compose: dict[str, Any]) -> None:
    for name, service in CODELAB_SERVICES.items():
        spec = compose["services"][name]
        assert spec["build"]["dockerfile"] == "deploy/docker/Dockerfile", name
        assert spec["build"]["context"] == "."
        assert spec["build"]["args"]["SERVICE"] == service, name
        assert spec["image"].endswith(f"-{service}:${{CODELAB_TAG:-latest}}"), name


def test_environment_names_are_real_settings(
    compose: dict[str, Any], settings_env: dict[str, set[str]], env_prefixes: dict[str, str]
) -> None:
    for name, _service in CODELAB_SERVICES.items():
        for variable in compose["services"][name]["environment"]:
            owner = next((s for s, p in env_prefixes.items() if variable.startswith(p)), None)
            if owner is None:
                continue  # OPENAI_API_KEY, LITELLM_*, CODELAB_ADMIN_* (read by auth-init)
            assert variable in settings_env[owner], f"{name}: {variable} is not a setting"


def test_secrets_are_interpolated_never_literal(compose: dict[str, Any]) -> None:
    checked = 0
    for name, spec in compose["services"].items():
        for variable, value in (spec.get("environment") or {}).items():
            if SECRET_NAME.search(variable):
                checked += 1
                assert "${" in str(value), f"{name}: {variable} is hard-coded"
    assert checked >= 8


def test_runtime_and_gateway_have_two_replicas(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert [s for s in services if s.startswith("runtime-")] == ["runtime-1", "runtime-2"]
    assert [s for s in services if s.startswith("gateway-")] == ["gateway-1", "gateway-2"]
    ids = {
        services[s]["environment"]["CODELAB_RUNTIME_INSTANCE_ID"]
        for s in services
        if s.startswith("runtime-")
    }
    assert ids == {"runtime-1", "runtime-2"}


def test_postgres_init_creates_the_databases_the_services_use(
    compose: dict[str, Any], root: Path
) -> None:
    sql = (root / "deploy/compose/postgres-init.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+);", sql))
    assert created == {"auth", "runtime"}
    used = {
        compose["services"]["auth"]["environment"]["CODELAB_AUTH_DATABASE_URL"].rsplit("/", 1)[1],
        compose["services"]["runtime-1"]["environment"]["CODELAB_RUNTIME_DATABASE_URL"].rsplit(
            "/", 1
        )[1],
    }
    assert used == created


def test_mounted_files_exist(compose: dict[str, Any], root: Path) -> None:
    mounts = 0
    for spec in compose["services"].values():
        for volume in spec.get("volumes", []):
            source = volume.split(":", 1)[0]
            source = re.sub(r"\$\{\w+:-([^}]+)\}", r"\1", source)  # ${VAR:-default} -> default
            if source.startswith("./"):
                mounts += 1
                assert (root / source).exists(), source
    assert mounts >= 5


def test_env_example_lists_every_required_variable(root: Path) -> None:
    names = {
        line.split("=", 1)[0]
        for line in (root / "deploy/compose/env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    compose_text = (root / "docker-compose.yml").read_text()
    required = set(re.findall(r"\$\{(\w+):\?", compose_text))
    assert required == set(REQUIRED)
    assert required <= names
