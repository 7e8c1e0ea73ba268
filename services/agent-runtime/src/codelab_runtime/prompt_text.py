"""Flattening ACP prompt content blocks into the text the model reads."""

from __future__ import annotations

from typing import Any

from acp.schema import (
    EmbeddedResourceContentBlock,
    ResourceContentBlock,
    TextContentBlock,
    TextResourceContents,
)


def prompt_to_text(blocks: list[Any]) -> str:
    """Text blocks verbatim; embedded text resources inlined with their URI; links named."""
    parts: list[str] = []
    for block in blocks:
        if isinstance(block, TextContentBlock):
            parts.append(block.text)
        elif isinstance(block, EmbeddedResourceContentBlock) and isinstance(
            block.resource, TextResourceContents
        ):
            parts.append(f'<file uri="{block.resource.uri}">\n{block.resource.text}\n</file>')
        elif isinstance(block, ResourceContentBlock):
            parts.append(f"[resource: {block.uri}]")
        else:
            parts.append(f"[{getattr(block, 'type', 'content')} omitted]")
    return "\n".join(parts)
