"""The nginx config we ship renders for any mesh and passes `nginx -t`."""

from __future__ import annotations

from pathlib import Path

from codelab_mesh import nginx
from codelab_mesh.config import MeshConfig

ROOT = Path(__file__).resolve().parents[3]


def _config(tmp_path: Path) -> MeshConfig:
    return MeshConfig(
        root=ROOT,
        data_dir=tmp_path / "data",
        run_dir=tmp_path / "run",
        nginx_port=18080,
        auth_port=18081,
        gateway_ports=[18082, 18182],
    )


def test_rendered_config_passes_nginx_t(tmp_path: Path) -> None:
    conf = nginx.render(_config(tmp_path))
    nginx.check(conf)
    text = conf.read_text()
    assert "@@" not in text
    assert "server 127.0.0.1:18082" in text
    assert "server 127.0.0.1:18182" in text


def test_websocket_sse_and_log_hygiene_directives(tmp_path: Path) -> None:
    text = nginx.render(_config(tmp_path)).read_text()
    acp = text.split("location = /acp", 1)[1].split("}", 1)[0]
    assert "proxy_set_header Upgrade $http_upgrade;" in acp
    assert "proxy_set_header Connection $connection_upgrade;" in acp
    assert "proxy_http_version 1.1;" in acp
    sse = text.split("location /v1/", 1)[1].split("}", 1)[0]
    assert "proxy_buffering off;" in sse
    # The access log names $uri, never $request or $args: `?access_token=` stays out of logs.
    log_format = text.split("log_format codelab", 1)[1].split(";", 1)[0]
    assert "$uri" in log_format
    assert "$request " not in log_format
    assert "$args" not in log_format


def test_persistent_secret_is_reused_and_private(tmp_path: Path) -> None:
    config = _config(tmp_path)
    first = config.persistent_secret("s")
    assert config.persistent_secret("s") == first
    path = config.data_dir / "secrets" / "s"
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(first) >= 32
