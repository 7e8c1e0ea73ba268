"""Write docs/configuration.md from the services' settings classes (the single source).

Run: uv run python scripts/gen_config_docs.py   (tests/docs checks the file is current)
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from codelab_auth.settings import AuthSettings
from codelab_client.settings import ClientSettings
from codelab_gateway.settings import GatewaySettings
from codelab_llm_proxy.settings import LlmProxySettings
from codelab_runtime.settings import RuntimeSettings

DOC = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
SERVICES: list[tuple[str, type[BaseSettings]]] = [
    ("auth", AuthSettings),
    ("gateway", GatewaySettings),
    ("agent-runtime", RuntimeSettings),
    ("llm-proxy", LlmProxySettings),
]

HEADER = """# Configuration reference

Generated from the settings classes by `scripts/gen_config_docs.py` (a test keeps it current).
Every service reads environment variables with its own prefix; nothing else reads the
environment. Secrets (type `secret`) are never logged. `codelab-mesh up` (`make run`) and the
e2e suite set the cross-service values (URLs, ports, the runtime's client secret) for you.
"""


def _type(field: FieldInfo) -> str:
    annotation = field.annotation
    if annotation is None:
        return ""
    text = getattr(annotation, "__name__", None) or str(annotation)
    text = text.replace("typing.", "").replace("pydantic.types.", "").replace("pathlib.", "")
    if "SecretStr" in text or annotation is SecretStr:
        return "secret"
    return text.replace(" | None", "").replace("|", "or")


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "**required**"
    if field.default_factory is not None:
        return "*(generated)*"
    value = field.default
    if isinstance(value, SecretStr):
        return "*(dev default, change it)*"
    return f"`{value}`" if value not in (None, "") else "—"


def _env_name(prefix: str, name: str, field: FieldInfo) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias
    choices = getattr(alias, "choices", None)
    if choices:
        return " / ".join(str(c) for c in choices)
    return f"{prefix}{name.upper()}"


def section(title: str, settings: type[BaseSettings]) -> str:
    prefix = str(settings.model_config.get("env_prefix", ""))
    doc = (settings.__doc__ or "").strip().splitlines()[0] if settings.__doc__ else ""
    rows = [
        f"## {title}",
        "",
        doc,
        "",
        "| variable | type | default | meaning |",
        "|---|---|---|---|",
    ]
    for name, field in settings.model_fields.items():
        description = (field.description or "").replace("|", "\\|").replace("\n", " ")
        env = _env_name(prefix, name, field)
        rows.append(f"| `{env}` | {_type(field)} | {_default(field)} | {description} |")
    return "\n".join(rows) + "\n"


def render() -> str:
    parts = [HEADER]
    parts.extend(section(title, cls) for title, cls in SERVICES)
    parts.append(section("codelab CLI", ClientSettings))
    return "\n".join(parts)


def main() -> int:
    DOC.write_text(render())
    print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
