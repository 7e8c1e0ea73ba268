"""``codelab-auth``: administer users, clients and keys with the service's own settings.

Every command first applies the migrations, so it works on a fresh database before
the service has ever started.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

import uvicorn

from codelab_auth.admin import ClientSpec, seed_demo, upsert_client, upsert_user
from codelab_auth.app import open_context
from codelab_auth.context import AuthContext
from codelab_auth.errors import InvalidAdminInput
from codelab_auth.oauth.server import GRANT_TYPES
from codelab_auth.rotation import key_table, maintain, rotate_now
from codelab_auth.scopes import KNOWN_ROLES
from codelab_auth.second_factor import disable_totp, enroll_totp
from codelab_auth.settings import AuthSettings
from codelab_common.logging import configure_logging


def _secret(args: argparse.Namespace, flag: str, stdin_flag: str) -> str | None:
    """A secret from ``--x-stdin`` (first line, newline stripped) or ``--x``, or None."""
    if getattr(args, stdin_flag):
        line = sys.stdin.readline().rstrip("\r\n")
        if not line:
            raise InvalidAdminInput(f"--{stdin_flag.replace('_', '-')}: nothing on stdin")
        return line
    value: str | None = getattr(args, flag)
    return value


async def _create_user(context: AuthContext, args: argparse.Namespace) -> str:
    password = _secret(args, "password", "password_stdin")
    if password is None:
        raise InvalidAdminInput("give --password-stdin or --password")
    async with context.sessions.begin() as session:
        created = await upsert_user(
            session, context.policy.hasher, args.username, args.role, password
        )
    return f"{'created' if created else 'updated'} user {args.username}"


async def _create_client(context: AuthContext, args: argparse.Namespace) -> str:
    spec = ClientSpec(
        client_id=args.client_id,
        scopes=tuple(args.scope.split()),
        audience=args.audience,
        grant_types=tuple(args.grant),
        secret=_secret(args, "secret", "secret_stdin"),
        public=args.public,
        allow_password_grant=args.allow_password,
        name=args.name or "",
        allowed_audiences=tuple(args.allowed_audience),
        redirect_uris=tuple(args.redirect_uri),
    )
    async with context.sessions.begin() as session:
        created = await upsert_client(session, context.policy.hasher, spec)
    return f"{'created' if created else 'updated'} client {args.client_id}"


async def _keys(context: AuthContext, args: argparse.Namespace) -> str:
    settings = context.settings
    action = "rotate" if args.command == "rotate-key" else args.action
    if action == "list":
        return "\n".join(" ".join(row) for row in await key_table(context.sessions))
    if action == "maintain":
        steps = await maintain(
            context.sessions, settings.key_encryption_secret, settings.rotation_policy
        )
        return "\n".join(steps) or "nothing due"
    drop = bool(getattr(args, "drop_previous", False))
    kid = await rotate_now(context.sessions, settings.key_encryption_secret, drop_previous=drop)
    return f"new signing key {kid}"


async def _totp(context: AuthContext, args: argparse.Namespace) -> str:
    async with context.sessions.begin() as session:
        if args.action == "disable":
            await disable_totp(session, args.username)
            return f"two-factor sign-in disabled for {args.username}"
        assert context.policy.totp is not None
        enrollment = await enroll_totp(session, context.policy.totp, args.username)
    codes = "\n".join(f"  {code}" for code in enrollment.recovery_codes)
    return (
        f"Add this to an authenticator app (or show it as a QR code):\n"
        f"  {enrollment.provisioning_uri}\nRecovery codes (each works once):\n{codes}"
    )


async def _run(args: argparse.Namespace, settings: AuthSettings) -> str:
    async with open_context(settings) as context:
        if args.command == "migrate":
            return "database is at the newest revision"
        if args.command == "create-user":
            return await _create_user(context, args)
        if args.command == "create-client":
            return await _create_client(context, args)
        if args.command == "totp":
            return await _totp(context, args)
        if args.command == "seed-demo":
            await seed_demo(context.sessions, context.policy.hasher)
            return "demo user and codelab-cli client are present"
        await context.keyring.ensure_key()
        return await _keys(context, args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="codelab-auth", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("serve", help="run the service (uvicorn, host/port from settings)")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("seed-demo", help="create user demo/demo and client codelab-cli")
    commands.add_parser("rotate-key", help="alias of `keys rotate`")
    keys = commands.add_parser("keys", help="signing keys: list, rotate (emergency), maintain")
    key_actions = keys.add_subparsers(dest="action", required=True)
    key_actions.add_parser("list", help="kid, status and creation time of every key")
    rotate = key_actions.add_parser("rotate", help="a new key signs now; old ones stay published")
    rotate.add_argument(
        "--drop-previous",
        action="store_true",
        help="also unpublish every older key (compromise: their tokens stop verifying)",
    )
    key_actions.add_parser("maintain", help="run the scheduled rotation step that is due")
    totp = commands.add_parser("totp", help="a user's TOTP second factor: enroll or disable")
    totp.add_argument("action", choices=["enroll", "disable"])
    totp.add_argument("username")

    user = commands.add_parser("create-user", help="create or update a user")
    user.add_argument("username")
    user.add_argument("--role", action="append", required=True, choices=sorted(KNOWN_ROLES))
    password = user.add_mutually_exclusive_group()
    password.add_argument("--password-stdin", action="store_true")
    password.add_argument("--password")

    client = commands.add_parser("create-client", help="create or update a client (idempotent)")
    client.add_argument("client_id")
    secret = client.add_mutually_exclusive_group()
    secret.add_argument("--secret-stdin", action="store_true")
    secret.add_argument("--secret")
    client.add_argument("--scope", required=True, help='space-separated, e.g. "llm:invoke"')
    client.add_argument("--audience", required=True, help="default audience of its tokens")
    client.add_argument("--allowed-audience", action="append", default=[])
    client.add_argument("--grant", action="append", required=True, choices=GRANT_TYPES)
    client.add_argument("--public", action="store_true", help="no secret (first-party apps)")
    client.add_argument("--allow-password", action="store_true", help="allow password grant")
    client.add_argument("--name")
    client.add_argument(
        "--redirect-uri",
        action="append",
        default=[],
        help="exact redirect URI (authorization_code); http://127.0.0.1/callback = any port",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``codelab-auth`` console script."""
    args = build_parser().parse_args(argv)
    settings = AuthSettings()
    if args.command == "serve":
        uvicorn.run(
            "codelab_auth.app:create_app", factory=True, host=settings.host, port=settings.port
        )
        return 0
    configure_logging("auth-cli", "WARNING", json_lines=False)
    try:
        print(asyncio.run(_run(args, settings)))
    except InvalidAdminInput as exc:
        print(f"codelab-auth: {exc.detail}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
