"""``codelab login --device``: the device authorization grant (RFC 8628) for headless machines.

The CLI gets a user code, prints where to enter it (any browser, any machine), and
polls the token endpoint at the server's interval until the user approves or denies.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pydantic import BaseModel

from codelab_client.auth import (
    DEFAULT_SCOPE,
    OAuthClient,
    TokenResponse,
    oauth_error_code,
    oauth_error_text,
    parse_token,
)
from codelab_client.errors import AuthError

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:device_code"


class DeviceAuthorization(BaseModel):
    """RFC 8628 §3.2 device authorization response."""

    device_code: str
    user_code: str
    verification_uri: str
    verification_uri_complete: str | None = None
    expires_in: float
    interval: float = 5.0


class DeviceFlow:
    """Shows the user code with ``show`` and polls until the user decides."""

    def __init__(
        self, show: Callable[[DeviceAuthorization], object], scope: str = DEFAULT_SCOPE
    ) -> None:
        self.show = show
        self.scope = scope

    async def obtain(self, oauth: OAuthClient) -> TokenResponse:
        endpoint = await oauth.endpoint("device_authorization_endpoint")
        response = await oauth.post(endpoint, {"scope": self.scope})
        if response.status_code != 200:
            raise AuthError(oauth_error_text(response))
        grant = DeviceAuthorization.model_validate(response.json())
        self.show(grant)
        token_endpoint = await oauth.token_endpoint()
        interval = grant.interval
        deadline = time.monotonic() + grant.expires_in
        while time.monotonic() < deadline:
            await asyncio.sleep(interval)
            answer = await oauth.post(
                token_endpoint, {"grant_type": GRANT_TYPE, "device_code": grant.device_code}
            )
            if answer.status_code == 200:
                return parse_token(answer)
            error = oauth_error_code(answer)
            if error == "authorization_pending":
                continue
            if error == "slow_down":  # RFC 8628 §3.5: add 5 seconds for good
                interval += 5
                continue
            raise AuthError(oauth_error_text(answer))
        raise AuthError("the device code expired before it was approved")
