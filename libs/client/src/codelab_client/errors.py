"""Typed failures of the CLI, each mapped to a documented exit code."""

from __future__ import annotations

from enum import IntEnum
from typing import ClassVar

from codelab_common.errors import CodelabError


class ExitCode(IntEnum):
    """Process exit codes of ``codelab``; scripts may rely on them."""

    OK = 0  # the turn ended normally (stopReason end_turn)
    ERROR = 1  # connection, protocol or agent error
    USAGE = 2  # bad command line (argparse's own code)
    AUTH = 3  # not logged in, login failed, token rejected
    REFUSED = 4  # stopReason refusal
    LIMIT = 5  # stopReason max_tokens / max_turn_requests
    CANCELLED = 130  # stopReason cancelled (Ctrl-C), as shells report SIGINT


class ClientError(CodelabError):
    """Base of the CLI's own errors; ``exit_code`` is what the process returns."""

    exit_code: ClassVar[ExitCode] = ExitCode.ERROR
    code = "client_error"
    title = "CodeLab client error"


class AuthError(ClientError):
    """Login failed, credentials are missing/stale, or the server rejected the token."""

    exit_code = ExitCode.AUTH
    status = 401
    code = "auth_error"
    title = "Authentication failed"


class LoginRequired(AuthError):
    """No usable stored credentials and no way to log in non-interactively."""

    code = "login_required"
    title = "Not logged in: run `codelab login`"


class ConnectionFailed(ClientError):
    """The gateway could not be reached, or the socket dropped for good."""

    status = 502
    code = "connection_failed"
    title = "Could not reach the CodeLab server"


class BadUsage(ClientError):
    """The command line names something that cannot work (e.g. a missing workspace)."""

    exit_code = ExitCode.USAGE
    status = 400
    code = "bad_usage"
    title = "Bad command line"
