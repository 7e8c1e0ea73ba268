"""RPM/TPM per caller and per deployment, budgets with a hard stop, shared through Redis."""

from __future__ import annotations

from pathlib import Path

from codelab_testing.fake_provider import FakeProvider, Reply, ServerThread
from codelab_testing.tokens import TestIssuer

from .conftest import REDIS_URL, chat, deployment, serve_proxy


def test_caller_rpm_is_shared_by_replicas_and_answers_429_with_retry_after(
    issuer: TestIssuer,
    jwks_server: ServerThread,
    provider: FakeProvider,
    tmp_path: Path,
    redis_prefix: str,
) -> None:
    document = {
        "model_list": [deployment("coder", provider.base_url)],
        "limits": {"default": {"rpm": 3}, "callers": {"vip": {"rpm": 100}}},
    }
    shared = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    with (
        serve_proxy(issuer, jwks_server, tmp_path / "a.yaml", document, **shared) as one,
        serve_proxy(issuer, jwks_server, tmp_path / "b.yaml", document, **shared) as two,
    ):
        statuses = [chat(proxy, "r").status_code for proxy in (one, two, one, two)]
        refused = chat(one, "r")
        vip = chat(one, "r", headers=one.headers(sub="vip"))
    assert statuses == [200, 200, 200, 429]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limit_exceeded"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert vip.status_code == 200
    assert len(provider.requests("r")) == 4


def test_caller_tpm_counts_tokens_after_the_call(
    issuer: TestIssuer,
    jwks_server: ServerThread,
    provider: FakeProvider,
    tmp_path: Path,
    redis_prefix: str,
) -> None:
    document = {
        "model_list": [deployment("coder", provider.base_url)],
        "limits": {"default": {"tpm": 5}},
    }
    settings = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    with serve_proxy(issuer, jwks_server, tmp_path / "m.yaml", document, **settings) as proxy:
        provider.set_script("t", [Reply.text("many words to use up the token allowance")])
        assert chat(proxy, "t").status_code == 200
        assert chat(proxy, "t").status_code == 429


def test_budget_is_a_hard_stop(
    issuer: TestIssuer,
    jwks_server: ServerThread,
    provider: FakeProvider,
    tmp_path: Path,
    redis_prefix: str,
) -> None:
    price = {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}
    document = {
        "model_list": [deployment("coder", provider.base_url, price=price)],
        "limits": {"default": {"budget_usd": 1.0, "period": "month"}},
    }
    settings = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    with serve_proxy(issuer, jwks_server, tmp_path / "m.yaml", document, **settings) as proxy:
        assert chat(proxy, "b").status_code == 200
        stopped = chat(proxy, "b")
    assert stopped.status_code == 429
    assert stopped.json()["error"]["code"] == "budget_exceeded"
    assert "per month" in stopped.json()["error"]["message"]


def test_deployment_at_its_rpm_is_skipped_for_the_next_in_the_pool(
    issuer: TestIssuer,
    jwks_server: ServerThread,
    provider: FakeProvider,
    backup: FakeProvider,
    tmp_path: Path,
    redis_prefix: str,
) -> None:
    small = deployment("coder", provider.base_url)
    small["litellm_params"]["rpm"] = 1
    big = deployment("coder", backup.base_url)
    big["litellm_params"]["rpm"] = 1
    document = {"model_list": [small, big]}
    settings = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    with serve_proxy(issuer, jwks_server, tmp_path / "m.yaml", document, **settings) as proxy:
        first, second, third = (chat(proxy, "d") for _ in range(3))
    assert (first.status_code, second.status_code) == (200, 200)
    assert {first.headers["x-codelab-deployment"], second.headers["x-codelab-deployment"]} == {
        "coder#0",
        "coder#1",
    }
    assert third.status_code == 429
