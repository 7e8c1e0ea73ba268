"""The model list: litellm's ``model_list`` YAML format, so LiteLLM users can bring their file.

Example::

    model_list:
      - model_name: coder            # the name callers send as `model`
        litellm_params:
          model: openai/gpt-4o-mini  # provider/model, as litellm names it
          api_base: https://api.example.com/v1
          api_key: os.environ/OPENAI_API_KEY   # resolved at load
        fast_path: true              # optional: force (or with false, refuse) the direct path
        price: {input_per_mtok: 0.15, output_per_mtok: 0.6}   # optional cost override
    router: {...}                    # our failover policy, see policy.py
    limits:                          # per caller (token `sub`); see limits.py
      default: {rpm: 600, tpm: 200000, budget_usd: 20, period: day}
      callers: {codelab-runtime: {rpm: 6000}}

Per-deployment limits use litellm's keys: ``litellm_params: {rpm: 100, tpm: 50000}``.

Several entries with one ``model_name`` form a pool; our router balances and fails over.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from codelab_llm_proxy.errors import ConfigError
from codelab_llm_proxy.limits import LimitsConfig
from codelab_llm_proxy.policy import RouterPolicy

_ENV_REF = "os.environ/"
# Keys of ours on a deployment entry; they are not handed to litellm.
_OWN_KEYS = {"fast_path", "price"}


class Price(BaseModel):
    """Per-deployment price override in USD per million tokens (else litellm's cost map)."""

    model_config = ConfigDict(extra="forbid")

    input_per_mtok: float = Field(default=0.0, ge=0)
    output_per_mtok: float = Field(default=0.0, ge=0)


class Deployment(BaseModel):
    """One deployment of a public model name."""

    model_config = ConfigDict(extra="allow")

    model_name: str = Field(min_length=1)
    litellm_params: dict[str, Any]
    model_info: dict[str, Any] = Field(default_factory=dict)
    fast_path: bool | None = None
    price: Price | None = None
    id: str = ""

    @field_validator("litellm_params")
    @classmethod
    def _names_a_model(cls, params: dict[str, Any]) -> dict[str, Any]:
        if not isinstance(params.get("model"), str) or not params["model"]:
            raise ValueError("litellm_params.model is required (e.g. openai/gpt-4o-mini)")
        return params

    @property
    def provider(self) -> str:
        model: str = self.litellm_params["model"]
        return model.split("/", 1)[0] if "/" in model else "openai"

    @property
    def upstream_model(self) -> str:
        """The model id the provider knows (``openai/gpt-4o`` → ``gpt-4o``)."""
        model: str = self.litellm_params["model"]
        return model.split("/", 1)[1] if "/" in model else model

    def limit(self, name: str) -> int | None:
        """``rpm`` / ``tpm`` of this deployment, in litellm's place for them."""
        value = self.litellm_params.get(name)
        return int(value) if value else None

    @property
    def uses_fast_path(self) -> bool:
        """OpenAI-speaking deployments with an ``api_base`` skip litellm unless told not to."""
        if self.fast_path is not None:
            return self.fast_path and bool(self.litellm_params.get("api_base"))
        return self.provider == "openai" and bool(self.litellm_params.get("api_base"))

    def resolved_params(self) -> dict[str, Any]:
        """``litellm_params`` with ``os.environ/NAME`` references read from the environment."""
        resolved: dict[str, Any] = {}
        for key, value in self.litellm_params.items():
            if isinstance(value, str) and value.startswith(_ENV_REF):
                value = os.environ.get(value.removeprefix(_ENV_REF))
            resolved[key] = value
        return resolved


class ProxyConfig(BaseModel):
    """The parsed config file: the model list and our ``router`` policy."""

    model_config = ConfigDict(extra="allow")

    model_list: list[Deployment] = Field(default_factory=list)
    router: RouterPolicy = Field(default_factory=RouterPolicy)
    limits: LimitsConfig = Field(default_factory=LimitsConfig)

    @model_validator(mode="after")
    def _ids_and_references(self) -> ProxyConfig:
        for index, deployment in enumerate(self.model_list):
            if not deployment.id:
                given = deployment.model_info.get("id")
                deployment.id = str(given) if given else f"{deployment.model_name}#{index}"
        names = set(self.model_names)
        for model, chain in {**self.router.fallbacks}.items():
            unknown = [m for m in [model, *chain] if m not in names]
            if unknown:
                raise ValueError(f"router.fallbacks names unknown models: {unknown}")
        context = self.router.context_fallbacks
        degraded = [
            *self.router.degraded,
            *self.router.degraded.values(),
            *context,
            *context.values(),
        ]
        unknown = [m for m in degraded if m not in names]
        if unknown:
            raise ValueError(f"router.degraded/context_fallbacks name unknown models: {unknown}")
        ids = [d.id for d in self.model_list]
        if len(set(ids)) != len(ids):
            raise ValueError("deployment ids (model_info.id) must be unique")
        return self

    @property
    def model_names(self) -> list[str]:
        """Public model names, in file order, each once."""
        return list(dict.fromkeys(d.model_name for d in self.model_list))

    def pool(self, model: str) -> list[Deployment]:
        return [d for d in self.model_list if d.model_name == model]

    def context_window(self, model: str, known: Callable[[str], int | None]) -> int | None:
        """The prompt tokens every deployment of ``model`` accepts: the smallest of their
        ``model_info.max_input_tokens`` (else ``known(litellm model)``); None if unknown."""
        windows = []
        for deployment in self.pool(model):
            given = deployment.model_info.get("max_input_tokens")
            window = int(given) if given else known(str(deployment.litellm_params["model"]))
            if window is None:
                return None  # one unknown deployment: no promise for the pool
            windows.append(window)
        return min(windows) if windows else None

    def router_model_list(self) -> list[dict[str, Any]]:
        """The list as litellm's ``Router(model_list=...)`` takes it (our keys left out)."""
        return [d.model_dump(exclude=_OWN_KEYS | {"id"}) for d in self.model_list]


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
