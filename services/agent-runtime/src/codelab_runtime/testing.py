"""Test helpers shipped with the runtime: the scripted model (no network, ever)."""

from __future__ import annotations

from codelab_runtime.model.scripted import (
    ScriptedChatModel,
    ScriptedResponse,
    ScriptedToolCall,
    ScriptExhausted,
)

__all__ = ["ScriptExhausted", "ScriptedChatModel", "ScriptedResponse", "ScriptedToolCall"]
