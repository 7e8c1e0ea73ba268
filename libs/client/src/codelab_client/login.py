"""Getting a usable access token for a command: stored, refreshed, or by logging in."""

from __future__ import annotations

import getpass

import httpx
from pydantic import SecretStr

from codelab_client.auth import (
    OAuthClient,
    PasswordFlow,
    access_token,
    login,
    stored_access_token,
)
from codelab_client.console import Terminal, read_line
from codelab_client.credentials import CredentialStore
from codelab_client.dpop import DpopKey
from codelab_client.errors import LoginRequired


async def ask_username(term: Terminal) -> str:
    term.err.write("username: ")
    term.err.flush()
    username = (await read_line(term.stdin)).strip()
    if not username:
        raise LoginRequired("no username given")
    return username


def ask_password(term: Terminal) -> SecretStr:
    # getpass talks to /dev/tty itself and never echoes.
    return SecretStr(getpass.getpass("password: ", stream=term.err))


async def password_login(
    store: CredentialStore,
    oauth: OAuthClient,
    term: Terminal,
    username: str | None,
    password: SecretStr | None,
) -> SecretStr:
    """Log in with the password grant, asking for whatever is missing if we can."""
    if (username is None or password is None) and not term.interactive:
        raise LoginRequired(
            "not logged in and no terminal to ask on: run `codelab login`, "
            "or set CODELAB_USERNAME and CODELAB_PASSWORD"
        )
    username = username or await ask_username(term)
    password = password or ask_password(term)
    credentials = await login(store, oauth, PasswordFlow(username, password), username)
    term.err.write(f"logged in to {oauth.server} as {username}\n")
    return access_token(credentials, oauth)


class TokenSource:
    """Hands out a fresh access token each time it is called (the chat reconnects with it)."""

    def __init__(
        self,
        store: CredentialStore,
        http: httpx.AsyncClient,
        server: str,
        term: Terminal,
        username: str | None = None,
        password: SecretStr | None = None,
        dpop: DpopKey | None = None,
    ) -> None:
        self.store = store
        self.oauth = OAuthClient(server, http, dpop)
        self.term = term
        self.username = username
        self.password = password

    async def __call__(self) -> SecretStr:
        try:
            return await stored_access_token(self.store, self.oauth)
        except LoginRequired:
            return await password_login(
                self.store, self.oauth, self.term, self.username, self.password
            )
