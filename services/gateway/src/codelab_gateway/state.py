"""The resources of one gateway app, built in the lifespan and kept on ``app.state``."""

from __future__ import annotations

from dataclasses import dataclass

from codelab_common.sessions import SessionChannel
from codelab_gateway.access import SessionAccess
from codelab_gateway.auth import Authenticator
from codelab_gateway.metrics import GatewayMetrics
from codelab_gateway.rest import RestRelay
from codelab_gateway.settings import GatewaySettings


@dataclass(frozen=True)
class GatewayState:
    """Everything a request handler needs, so handlers never reach for globals."""

    settings: GatewaySettings
    channel: SessionChannel
    access: SessionAccess
    authenticator: Authenticator
    metrics: GatewayMetrics
    rest: RestRelay
    version: str
