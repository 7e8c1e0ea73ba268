"""What a semantic-cache lookup embeds, and the scope an answer must match exactly.

The last user turn is embedded; everything else that shapes the answer (model, system
prompt, tools, earlier turns, sampling parameters) is hashed into the scope. Kept apart from
the Qdrant store so deciding costs no import of the vector database client.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

_DELIVERY = {"stream", "stream_options", "user", "cache", "messages"}


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p.get("text") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        texts = [p for p in parts if isinstance(p, str)]
        return "\n".join(texts) if texts and len(texts) == len(content) else None
    return None


def semantic_query(model: str, params: dict[str, Any]) -> tuple[str, str] | None:
    """(text to embed, scope hash), or None when the last turn is not a plain user text."""
    messages: list[dict[str, Any]] = params.get("messages") or []
    if not messages or messages[-1].get("role") != "user":
        return None
    text = _text(messages[-1].get("content"))
    if not text or not text.strip():
        return None
    shaping = {k: v for k, v in params.items() if k not in _DELIVERY}
    scope = {"model": model, "context": messages[:-1], "params": shaping}
    canonical = json.dumps(scope, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text, hashlib.sha256(canonical.encode()).hexdigest()
