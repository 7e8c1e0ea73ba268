"""`codelab-mesh up` / `codelab-mesh down`: the local mesh behind `make run` / `make stop`."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path

from codelab_mesh.config import MeshConfig
from codelab_mesh.launcher import Mesh
from codelab_mesh.processes import (
    ProcessFailed,
    ServiceProcess,
    stop_from_pid_files,
    stop_supervisor,
)

LOCAL_MODEL_PORT = 8090
TOY_MODEL_NOTICE = (
    "this CodeLab runs the offline toy model SmolLM2-135M: fine for trying the flow, "
    "useless for real work. See the README to configure a real provider."
)


def _local_model(root: Path, run_dir: Path, port: int) -> ServiceProcess:
    python = run_dir / "local-model-venv" / "bin" / "python"
    return ServiceProcess(
        name="local-model",
        argv=[
            str(python),
            str(root / "scripts/local_model/serve.py"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        env={},
        log_path=run_dir / "logs" / "local-model.log",
        pid_path=run_dir / "pids" / "local-model.pid",
        ready_url=f"http://127.0.0.1:{port}/v1/models",
        cwd=root,
    )


def _banner(config: MeshConfig, local_model: bool) -> str:
    url = config.public_url
    model = (
        "SmolLM2-135M, local (a TOY for a first run; see README to use a real provider)"
        if local_model
        else str(config.llm_config_path)
    )
    return f"""
CodeLab is running.
  entry (nginx)     {url}
  auth discovery    {url}/auth/.well-known/openid-configuration
  ACP WebSocket     ws://{config.public_host}:{config.nginx_port}/acp
  REST / SSE        {url}/v1/sessions
  model             {model}
  demo login        demo / demo   (local runs only)
  logs              {config.run_dir / "logs"}

Try:  uv run codelab chat --workspace /path/to/project "explain this project"
Stop: Ctrl-C here, or `make stop` from another terminal.
"""


def _llm_config(args: argparse.Namespace, root: Path, run_dir: Path) -> Path | None:
    """The model list: the caller's, else the local toy model's (on its chosen port)."""
    if args.llm_config:
        return Path(args.llm_config).resolve()
    if args.model_port == LOCAL_MODEL_PORT:
        return None  # deploy/llm-proxy/models.local.yaml
    template = (root / "deploy/llm-proxy/models.local.yaml").read_text()
    path = run_dir / "models.local.yaml"
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(template.replace(f":{LOCAL_MODEL_PORT}/", f":{args.model_port}/"))
    return path


def cmd_up(args: argparse.Namespace) -> int:
    root = Path(args.root).resolve()
    run_dir = Path(args.run_dir).resolve()
    use_local_model = args.llm_config is None
    config = MeshConfig(
        root=root,
        data_dir=Path(args.data_dir).resolve(),
        run_dir=run_dir,
        nginx_port=args.port,
        auth_port=args.auth_port,
        gateway_ports=[args.gateway_port],
        runtime_ports=[args.runtime_port],
        llm_proxy_port=args.llm_proxy_port,
        llm_config_path=_llm_config(args, root, run_dir),
        log_json=not args.plain_logs,
        notice=TOY_MODEL_NOTICE if use_local_model else "",
    )
    extra = [_local_model(root, run_dir, args.model_port)] if use_local_model else []
    mesh = Mesh(config, extra=extra)
    started = time.monotonic()
    try:
        mesh.start(timeout=args.timeout)
    except ProcessFailed as exc:
        print(f"codelab-mesh: {exc}", file=sys.stderr)
        return 1
    print(_banner(config, use_local_model))
    print(f"ready in {time.monotonic() - started:.1f}s", flush=True)
    supervisor_pid = run_dir / "mesh.pid"
    supervisor_pid.write_text(str(os.getpid()))
    stop = False

    def on_signal(signum: int, frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        while not stop:
            dead = [p.name for p in mesh.processes.values() if not p.alive]
            if dead:
                print(f"codelab-mesh: {', '.join(dead)} exited; stopping", file=sys.stderr)
                break
            time.sleep(0.5)
    finally:
        print("stopping...", file=sys.stderr)
        mesh.stop()
        supervisor_pid.unlink(missing_ok=True)
        print("stopped", file=sys.stderr)
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    run_dir = Path(args.run_dir).resolve()
    if stop_supervisor(run_dir / "mesh.pid"):
        print("stopped the mesh")
    # Whatever a killed supervisor left behind.
    leftovers = stop_from_pid_files(run_dir / "pids")
    if leftovers:
        print("stopped leftover processes: " + ", ".join(leftovers))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="codelab-mesh", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the mesh and wait (Ctrl-C stops it)")
    up.add_argument("--root", default=".", help="repository root")
    up.add_argument("--data-dir", default="data")
    up.add_argument("--run-dir", default=".run")
    up.add_argument("--port", type=int, default=8080, help="public nginx port")
    up.add_argument("--auth-port", type=int, default=8081)
    up.add_argument("--gateway-port", type=int, default=8082)
    up.add_argument("--runtime-port", type=int, default=8083)
    up.add_argument("--llm-proxy-port", type=int, default=8084)
    up.add_argument("--model-port", type=int, default=LOCAL_MODEL_PORT, help="local toy model")
    up.add_argument("--llm-config", help="litellm model_list YAML (default: the local toy model)")
    up.add_argument("--timeout", type=float, default=180.0)
    up.add_argument("--plain-logs", action="store_true", help="human-readable service logs")
    up.set_defaults(func=cmd_up)
    down = sub.add_parser("down", help="stop a mesh started by `up`")
    down.add_argument("--run-dir", default=".run")
    down.set_defaults(func=cmd_down)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
