"""Fixtures of the deployment-file tests: the repository root and what the code exports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from codelab_auth.settings import AuthSettings
from codelab_gateway.settings import GatewaySettings
from codelab_llm_proxy.settings import LlmProxySettings
from codelab_runtime.settings import RuntimeSettings

ROOT = Path(__file__).resolve().parents[2]

# service name used by the image (--build-arg SERVICE) -> its settings class
SERVICE_SETTINGS: dict[str, type[BaseSettings]] = {
    "auth": AuthSettings,
    "gateway": GatewaySettings,
    "runtime": RuntimeSettings,
    "llm-proxy": LlmProxySettings,
}

_METRIC = re.compile(r'(Counter|Gauge|Histogram|Summary)\(\s*"(codelab_\w+)"', re.MULTILINE)
_SUFFIXES = {
    "Counter": ("_total",),
    "Gauge": ("",),
    "Histogram": ("_bucket", "_sum", "_count"),
    "Summary": ("_sum", "_count"),
}


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def exported_series() -> set[str]:
    """Every series name the services expose, read from their metric declarations."""
    names: set[str] = set()
    sources = [*ROOT.glob("services/*/src/**/*.py"), *ROOT.glob("libs/common/src/**/*.py")]
    for path in sources:
        for kind, name in _METRIC.findall(path.read_text()):
            base = name.removesuffix("_total") if kind == "Counter" else name
            names.update(base + suffix for suffix in _SUFFIXES[kind])
    return names


@pytest.fixture(scope="session")
def settings_classes() -> dict[str, type[BaseSettings]]:
    return SERVICE_SETTINGS


@pytest.fixture(scope="session")
def settings_env() -> dict[str, set[str]]:
    """Per service, the environment variables its settings read (upper-case, with prefix)."""
    result: dict[str, set[str]] = {}
    for service, settings in SERVICE_SETTINGS.items():
        prefix = str(settings.model_config.get("env_prefix", ""))
        result[service] = {f"{prefix}{field}".upper() for field in settings.model_fields}
    return result


@pytest.fixture(scope="session")
def env_prefixes() -> dict[str, str]:
    """Per service, its settings' environment prefix (CODELAB_AUTH_ ...)."""
    return {
        service: str(settings.model_config.get("env_prefix", ""))
        for service, settings in SERVICE_SETTINGS.items()
    }
