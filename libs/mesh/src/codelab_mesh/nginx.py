"""Render deploy/nginx/codelab.conf.template for a mesh and check it with `nginx -t`."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from codelab_mesh.config import MeshConfig

TEMPLATE = Path("deploy/nginx/codelab.conf.template")


def nginx_binary() -> str:
    """The nginx executable (Debian puts it in /usr/sbin, which a user's PATH may lack)."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise FileNotFoundError("nginx is not installed (apt-get install nginx-light)")
    return found


def render(config: MeshConfig, *, daemon: bool = False) -> Path:
    """Write the rendered config into ``run_dir/nginx`` and return its path."""
    prefix = config.run_dir / "nginx"
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    text = (config.root / TEMPLATE).read_text()
    servers = "\n".join(
        f"        server {config.host}:{port} max_fails=1 fail_timeout=2s;"
        for port in config.gateway_ports
    )
    replacements = {
        "@@PREFIX@@": str(prefix),
        "@@DAEMON@@": "on" if daemon else "off",
        "@@LISTEN@@": f"{config.host}:{config.nginx_port}",
        "@@AUTH_UPSTREAM@@": f"{config.host}:{config.auth_port}",
        "@@GATEWAY_SERVERS@@": servers,
    }
    for placeholder, value in replacements.items():
        text = text.replace(placeholder, value)
    path = prefix / "nginx.conf"
    path.write_text(text)
    return path


def check(conf: Path) -> None:
    """Run `nginx -t` on a rendered config; raise with nginx's own words on failure."""
    result = subprocess.run(
        [nginx_binary(), "-t", "-c", str(conf), "-p", str(conf.parent)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{result.stderr}")
