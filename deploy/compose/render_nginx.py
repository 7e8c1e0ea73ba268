"""Render deploy/nginx/codelab.conf.template for docker-compose and Kubernetes.

The local mesh renders the template at start-up (codelab_mesh.nginx); containers mount a
committed, pre-rendered copy instead, so the config is reviewable and nothing renders at
deploy time. Re-run after editing the template (tests/deploy fails until you do):

    uv run python deploy/compose/render_nginx.py
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "deploy/nginx/codelab.conf.template"


@dataclass(frozen=True)
class Target:
    """Where one rendered copy goes and which upstreams it names."""

    path: Path
    auth: str
    gateways: tuple[str, ...]
    # Writable by nginx in the container; logs/ under it are symlinks to stdout/stderr.
    prefix: str = "/tmp/codelab-nginx"
    listen: str = "8080"


TARGETS = (
    # docker-compose: one service per gateway replica, so nginx balances and fails over itself.
    Target(ROOT / "deploy/compose/nginx.conf", "auth:8081", ("gateway-1:8082", "gateway-2:8082")),
    # Kubernetes: the Service's ClusterIP spreads connections over the gateway pods.
    Target(ROOT / "deploy/k8s/nginx.conf", "codelab-auth:8081", ("codelab-gateway:8082",)),
)


def render(template: str, target: Target) -> str:
    """The template with every placeholder replaced (same server-line shape as codelab_mesh)."""
    servers = "\n".join(
        f"        server {address} max_fails=1 fail_timeout=2s;" for address in target.gateways
    )
    replacements = {
        "@@PREFIX@@": target.prefix,
        "@@DAEMON@@": "off",
        "@@LISTEN@@": target.listen,
        "@@AUTH_UPSTREAM@@": target.auth,
        "@@GATEWAY_SERVERS@@": servers,
    }
    for placeholder, value in replacements.items():
        template = template.replace(placeholder, value)
    if "@@" in template:
        raise ValueError(f"{TEMPLATE} has a placeholder this renderer does not know")
    return template


def main() -> None:
    template = TEMPLATE.read_text()
    for target in TARGETS:
        target.path.write_text(render(template, target))
        print(f"wrote {target.path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
