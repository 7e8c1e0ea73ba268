"""``codelab``: log in, chat with the agents in a workspace, or bridge an ACP editor."""

from __future__ import annotations

import argparse
import asyncio
import sys
import webbrowser
from collections.abc import Sequence
from pathlib import Path

from pydantic import SecretStr

from codelab_client.auth import LoginFlow, OAuthClient, PasswordFlow, login
from codelab_client.browser_login import BrowserFlow
from codelab_client.console import Terminal
from codelab_client.credentials import CredentialStore
from codelab_client.device_login import DeviceAuthorization, DeviceFlow
from codelab_client.dpop import DpopKey
from codelab_client.errors import BadUsage, ClientError, ExitCode, LoginRequired
from codelab_client.login import TokenSource, ask_password, ask_username
from codelab_client.settings import ClientSettings
from codelab_common.http import create_http_client
from codelab_common.logging import configure_logging


def build_parser(settings: ClientSettings) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codelab", description="CodeLab terminal client")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logs on stderr")
    commands = parser.add_subparsers(dest="command", required=True)
    server_help = f"CodeLab server URL (env CODELAB_SERVER, default {settings.server})"

    log_in = commands.add_parser("login", help="log in and store tokens")
    log_in.add_argument("--server", default=settings.server, help=server_help)
    log_in.add_argument("--username", default=settings.username, help="env CODELAB_USERNAME")
    log_in.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    log_in.add_argument(
        "--no-browser", action="store_true", help="print the sign-in URL instead of opening it"
    )
    log_in.add_argument(
        "--device", action="store_true", help="headless: enter a code on any other device"
    )

    log_out = commands.add_parser("logout", help="forget the stored tokens for a server")
    log_out.add_argument("--server", default=settings.server, help=server_help)

    chat = commands.add_parser("chat", help="send one prompt and stream the answer")
    chat.add_argument("prompt", help='the prompt ("-" reads it from stdin)')
    chat.add_argument("--workspace", default=".", help="directory the agent may use (default .)")
    chat.add_argument("--yes", action="store_true", help="allow every permission request")
    chat.add_argument("--mode", help="agent to start with (orchestrator, coder, architect, ...)")
    chat.add_argument("--session", help="continue this session id")
    chat.add_argument("--server", default=settings.server, help=server_help)

    acp = commands.add_parser("acp", help="ACP agent on stdio for editors (Zed, JetBrains...)")
    acp.add_argument("--server", default=settings.server, help=server_help)
    return parser


def show_url(url: str, *, open_browser: bool) -> None:
    """Print the sign-in URL (always: the browser may be on another machine) and open it."""
    sys.stderr.write(f"Sign in at:\n  {url}\n")
    if open_browser:
        webbrowser.open(url)


def show_device_code(grant: DeviceAuthorization) -> None:
    sys.stderr.write(
        f"On any device, open {grant.verification_uri} and enter the code {grant.user_code}\n"
    )
    if grant.verification_uri_complete:
        sys.stderr.write(f"(or open {grant.verification_uri_complete})\n")
    sys.stderr.write("Waiting for approval...\n")


def _dpop_key(settings: ClientSettings) -> DpopKey | None:
    """This install's DPoP key, unless ``CODELAB_DPOP=0``."""
    return DpopKey.load_or_create(settings.config_dir) if settings.dpop else None


def _terminal() -> Terminal:
    return Terminal(stdin=sys.stdin, err=sys.stderr, interactive=sys.stdin.isatty())


async def cmd_login(args: argparse.Namespace, settings: ClientSettings) -> ExitCode:
    store = CredentialStore(settings.config_dir)
    term = _terminal()
    if not args.password_stdin and not args.username:
        # Default: the browser (authorization code + PKCE); the password grant stays
        # for scripts and tests that pass --username / --password-stdin.
        async with create_http_client() as http:
            oauth = OAuthClient(args.server, http, _dpop_key(settings))
            flow: LoginFlow = (
                DeviceFlow(show_device_code)
                if args.device
                else BrowserFlow(lambda url: show_url(url, open_browser=not args.no_browser))
            )
            await login(store, oauth, flow, None)
        sys.stderr.write(f"logged in to {oauth.server}\n")
        return ExitCode.OK
    if args.password_stdin:
        if not args.username:
            raise LoginRequired("--password-stdin needs --username (or CODELAB_USERNAME)")
        username = args.username
        password = SecretStr(sys.stdin.readline().rstrip("\r\n"))
    else:
        username = args.username or await ask_username(term)
        password = settings.password or ask_password(term)
    async with create_http_client() as http:
        oauth = OAuthClient(args.server, http, _dpop_key(settings))
        await login(store, oauth, PasswordFlow(username, password), username)
    sys.stderr.write(f"logged in to {oauth.server} as {username}\n")
    return ExitCode.OK


async def cmd_chat(args: argparse.Namespace, settings: ClientSettings) -> ExitCode:
    prompt = sys.stdin.read() if args.prompt == "-" else args.prompt
    interactive = args.prompt != "-" and sys.stdin.isatty()
    term = Terminal(stdin=sys.stdin, err=sys.stderr, interactive=interactive)
    async with create_http_client() as http:
        tokens = TokenSource(
            CredentialStore(settings.config_dir),
            http,
            args.server,
            term,
            settings.username,
            settings.password,
            _dpop_key(settings),
        )
        await tokens()  # log in (or fail) before anything else happens
        # Imported late: the ACP schema takes ~1 s to build and only chat needs it.
        from codelab_client.chat import Chat, ChatOptions, run_chat
        from codelab_client.client import CodelabClient
        from codelab_client.permissions import PermissionAsker
        from codelab_client.render import Renderer
        from codelab_client.workspace import Workspace

        workspace = Workspace(Path(args.workspace))
        color = sys.stderr.isatty() and not settings.no_color
        renderer = Renderer(sys.stdout, sys.stderr, color=color)
        asker = PermissionAsker(renderer, sys.stdin, interactive=interactive, assume_yes=args.yes)
        options = ChatOptions(args.server, prompt, args.mode, args.session)
        return await run_chat(Chat(options, CodelabClient(workspace, renderer, asker), tokens))


async def cmd_acp(args: argparse.Namespace, settings: ClientSettings) -> ExitCode:
    from codelab_client.bridge import run_bridge

    # stdin is the protocol: never prompt, only refresh what is stored.
    term = Terminal(stdin=sys.stdin, err=sys.stderr, interactive=False)
    async with create_http_client() as http:
        tokens = TokenSource(
            CredentialStore(settings.config_dir),
            http,
            args.server,
            term,
            dpop=_dpop_key(settings),
        )
        token = await tokens()
    return await run_bridge(args.server, token, sys.stderr)


async def cmd_logout(args: argparse.Namespace, settings: ClientSettings) -> ExitCode:
    store = CredentialStore(settings.config_dir)
    with store.locked():
        store.delete(args.server)
    sys.stderr.write(f"logged out of {args.server}\n")
    return ExitCode.OK


COMMANDS = {"login": cmd_login, "logout": cmd_logout, "chat": cmd_chat, "acp": cmd_acp}


def main(argv: Sequence[str] | None = None) -> int:
    settings = ClientSettings()
    args = build_parser(settings).parse_args(argv)
    configure_logging("codelab-cli", "DEBUG" if args.verbose else "WARNING", json_lines=False)
    try:
        if args.command == "chat" and not Path(args.workspace).is_dir():
            raise BadUsage(f"workspace {args.workspace!r} is not a directory")
        return int(asyncio.run(COMMANDS[args.command](args, settings)))
    except ClientError as exc:
        sys.stderr.write(f"codelab: {exc.detail}\n")
        return int(exc.exit_code)
    except KeyboardInterrupt:
        return int(ExitCode.CANCELLED)


if __name__ == "__main__":
    sys.exit(main())
