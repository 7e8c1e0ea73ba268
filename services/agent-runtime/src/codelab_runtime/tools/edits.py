"""Search-and-replace edits: the common case, without rewriting whole files."""

from __future__ import annotations


class EditError(Exception):
    """The edit cannot be applied as asked; the message tells the model why."""


def replace_once(content: str, old_text: str, new_text: str, path: str) -> str:
    """``content`` with the single occurrence of ``old_text`` replaced by ``new_text``."""
    if not old_text:
        raise EditError("old_text is empty; use write_file to create a file.")
    count = content.count(old_text)
    if count == 0:
        raise EditError(f"old_text was not found in {path}; read the file and try again.")
    if count > 1:
        raise EditError(
            f"old_text occurs {count} times in {path}; include more context to make it unique."
        )
    return content.replace(old_text, new_text, 1)
