"""Session channel: how gateway and runtime replicas talk (see ``channel`` for the layout)."""

from codelab_common.sessions.channel import (
    RUNTIME_GROUP,
    WAKEUP_STREAM_MAXLEN,
    InputEntry,
    OutputEntry,
    SessionChannel,
    SessionRecord,
    Wakeup,
)
from codelab_common.sessions.memory import MemorySessionChannel
from codelab_common.sessions.redis import RedisSessionChannel

__all__ = [
    "RUNTIME_GROUP",
    "WAKEUP_STREAM_MAXLEN",
    "InputEntry",
    "MemorySessionChannel",
    "OutputEntry",
    "RedisSessionChannel",
    "SessionChannel",
    "SessionRecord",
    "Wakeup",
]
