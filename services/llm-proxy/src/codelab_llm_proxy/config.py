"""The model list: litellm's ``model_list`` YAML format, so LiteLLM users can bring their file.

Example::

    model_list:
      - model_name: coder            # the name callers send as `model`
        litellm_params:
          model: openai/gpt-4o-mini  # provider/model, as litellm names it
          api_base: https://api.example.com/v1
          api_key: os.environ/OPENAI_API_KEY   # resolved by litellm at load

Several entries with one ``model_name`` form a pool that litellm's router balances.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from codelab_llm_proxy.errors import ConfigError


class Deployment(BaseModel):
    """One deployment of a public model name."""

    model_config = ConfigDict(extra="allow")

    model_name: str = Field(min_length=1)
    litellm_params: dict[str, Any]
    model_info: dict[str, Any] = Field(default_factory=dict)

    @field_validator("litellm_params")
    @classmethod
    def _names_a_model(cls, params: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(params.get("model"), str) or not params["model"]:
            raise ValueError("litellm_params.model is required (e.g. openai/gpt-4o-mini)")
        return params


class ProxyConfig(BaseModel):
    """The parsed config file; keys other than ``model_list`` are kept for later features."""

    model_config = ConfigDict(extra="allow")

    model_list: list[Deployment] = Field(default_factory=list)

    @property
    def model_names(self) -> list[str]:
        """Public model names, in file order, each once."""
        return list(dict.fromkeys(d.model_name for d in self.model_list))

    def router_model_list(self) -> list[dict[str, Any]]:
        """The list as litellm's ``Router(model_list=...)`` takes it."""
        return [d.model_dump(exclude_defaults=False) for d in self.model_list]


def load_config(path: Path | None) -> ProxyConfig:
    """Read and validate the YAML file; ``None`` means an empty model list."""
    if path is None:
        return ProxyConfig()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read model config {path}: {exc}") from exc
    if not isinstance(document, dict):
        raise ConfigError(f"model config {path} must be a mapping with a model_list")
    try:
        return ProxyConfig.model_validate(document)
    except ValidationError as exc:
        raise ConfigError(f"invalid model config {path}: {exc}") from exc
