"""Prices and context windows from litellm's model map, read from the JSON file litellm
ships, without importing it.

``import litellm`` costs ~200 MB of RSS and seconds of CPU; a proxy whose deployments all
take the fast path needs only this table from it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
from pathlib import Path
from typing import Any

_FILE = "model_prices_and_context_window_backup.json"


@functools.cache
def _cost_map() -> dict[str, Any]:
    spec = importlib.util.find_spec("litellm")
    locations = spec.submodule_search_locations if spec is not None else None
    if not locations:
        return {}
    try:
        table: dict[str, Any] = json.loads((Path(locations[0]) / _FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return {}
    return table


def _info(model: str) -> dict[str, Any]:
    table = _cost_map()
    found: dict[str, Any] = table.get(model) or table.get(model.split("/", 1)[-1]) or {}
    return found


def context_window(model: str) -> int | None:
    """Prompt tokens the model accepts (``max_input_tokens``), if the map knows it."""
    value = _info(model).get("max_input_tokens")
    return int(value) if isinstance(value, int | float) and value > 0 else None


@functools.lru_cache(maxsize=1024)
def _rates(model: str) -> tuple[float, float]:
    """USD per prompt and completion token; (0, 0) for models the map does not price."""
    info = _info(model)
    return (
        float(info.get("input_cost_per_token") or 0.0),
        float(info.get("output_cost_per_token") or 0.0),
    )


def cost_usd(model: str, prompt_tokens: int, completion_tokens: int) -> float:
    """USD for the tokens by litellm's cost map; 0 for models it does not price."""
    prompt, completion = _rates(model)
    return prompt_tokens * prompt + completion_tokens * completion
