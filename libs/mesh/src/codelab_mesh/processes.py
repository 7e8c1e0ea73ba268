"""Child processes of a mesh: own process group, logged to files, stopped cleanly."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx


class ProcessFailed(RuntimeError):
    """A service exited or never became ready; the message carries its log's tail."""


def log_tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class ServiceProcess:
    """One long-running child: argv + env, a log file, a readiness URL."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    pid_path: Path
    ready_url: str | None = None
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.argv,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.cwd,
            start_new_session=True,  # its own process group: Ctrl-C reaches us, not it
        )
        log.close()
        self.pid_path.write_text(str(self.popen.pid))

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, deadline: float, client: httpx.Client) -> None:
        """Poll the readiness URL until it answers 200, the process dies, or time runs out."""
        if self.ready_url is None:
            return
        while time.monotonic() < deadline:
            if not self.alive:
                raise ProcessFailed(f"{self.name} exited:\n{log_tail(self.log_path)}")
            try:
                if client.get(self.ready_url, timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise ProcessFailed(
            f"{self.name} not ready at {self.ready_url}:\n{log_tail(self.log_path)}"
        )

    def stop(self, timeout: float = 10.0) -> None:
        if self.popen is None:
            return
        if self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                _signal_group(self.popen.pid, signal.SIGKILL)
                self.popen.wait(5)
        self.pid_path.unlink(missing_ok=True)

    def kill(self) -> None:
        """Die without cleanup, as a crash would (for takeover tests)."""
        if self.popen is not None and self.popen.poll() is None:
            _signal_group(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)
        self.pid_path.unlink(missing_ok=True)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def stop_from_pid_files(pid_dir: Path, timeout: float = 10.0) -> list[str]:
    """Stop what an earlier `codelab-mesh up` left running (used by `make stop`)."""
    stopped = []
    for pid_file in sorted(pid_dir.glob("*.pid")):
        try:
            pid = int(pid_file.read_text().strip())
        except FileNotFoundError:  # its supervisor removed it meanwhile
            continue
        except ValueError:
            pid_file.unlink(missing_ok=True)
            continue
        _signal_group(pid, signal.SIGTERM)
        end = time.monotonic() + timeout
        while time.monotonic() < end and _exists(pid):
            time.sleep(0.1)
        if _exists(pid):
            _signal_group(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
        stopped.append(pid_file.stem)
    return stopped


def stop_supervisor(pid_file: Path, timeout: float = 30.0) -> bool:
    """Ask a running `codelab-mesh up` to stop its mesh in order; True if one was running."""
    try:
        pid = int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return False
    if not _exists(pid):
        pid_file.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + timeout
    while time.monotonic() < end and _exists(pid):
        time.sleep(0.1)
    return True


def _exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
