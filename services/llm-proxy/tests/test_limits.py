"""RPM/TPM per caller and per deployment, budgets with a hard stop, shared through Redis."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from pydantic import ValidationError

from codelab_llm_proxy.limits import LimitsConfig
from codelab_testing.fake_provider import FakeProvider, Reply

from .conftest import REDIS_URL, ProxyFor, chat, deployment


def test_caller_rpm_is_shared_by_replicas_and_answers_429_with_retry_after(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    redis_prefix: str,
) -> None:
    document = {
        "model_list": [deployment("coder", provider.base_url)],
        "limits": {"default": {"rpm": 3}, "callers": {"vip": {"rpm": 100}}},
    }
    shared = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    with (
        proxy_for(document, name="a", **shared) as one,
        proxy_for(document, name="b", **shared) as two,
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
    proxy_for: ProxyFor,
    provider: FakeProvider,
    redis_prefix: str,
) -> None:
    document = {
        "model_list": [deployment("coder", provider.base_url)],
        "limits": {"default": {"tpm": 5}},
    }
    settings = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    with proxy_for(document, **settings) as proxy:
        provider.set_script("t", [Reply.text("many words to use up the token allowance")])
        assert chat(proxy, "t").status_code == 200
        assert chat(proxy, "t").status_code == 429


def test_budget_is_a_hard_stop(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    redis_prefix: str,
) -> None:
    price = {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}
    document = {
        "model_list": [deployment("coder", provider.base_url, price=price)],
        "limits": {"default": {"budget_usd": 1.0, "period": "month"}},
    }
    settings = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    with proxy_for(document, **settings) as proxy:
        assert chat(proxy, "b").status_code == 200
        stopped = chat(proxy, "b")
    assert stopped.status_code == 429
    assert stopped.json()["error"]["code"] == "budget_exceeded"
    assert "per month" in stopped.json()["error"]["message"]


def test_deployment_at_its_rpm_is_skipped_for_the_next_in_the_pool(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
    redis_prefix: str,
) -> None:
    small = deployment("coder", provider.base_url)
    small["litellm_params"]["rpm"] = 1
    big = deployment("coder", backup.base_url)
    big["litellm_params"]["rpm"] = 1
    document = {"model_list": [small, big]}
    settings = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    with proxy_for(document, **settings) as proxy:
        first, second, third = (chat(proxy, "d") for _ in range(3))
    assert (first.status_code, second.status_code) == (200, 200)
    assert {first.headers["x-codelab-deployment"], second.headers["x-codelab-deployment"]} == {
        "coder#0",
        "coder#1",
    }
    assert third.status_code == 429


def _metric(proxy_url: str, line_start: str) -> float | None:
    for line in httpx.get(f"{proxy_url}/metrics").text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return None


def _eventually(read: Callable[[], float | None]) -> float | None:
    # Spend is charged just after the answer is sent, so the metric follows a moment later.
    deadline = time.monotonic() + 5
    value = read()
    while value is None and time.monotonic() < deadline:
        time.sleep(0.05)
        value = read()
    return value


def test_team_budgets_soft_alert_and_remaining_gauge(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    redis_prefix: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    price = {"input_per_mtok": 1_000_000.0, "output_per_mtok": 1_000_000.0}  # $1 per token
    document = {
        "model_list": [deployment("coder", provider.base_url, price=price)],
        "limits": {
            "teams": {
                "big": {"budget_usd": 1000, "alert_at": 0.001},
                "tiny": {"budget_usd": 1, "period": "day"},
            },
            "team_of": {"alice": "big", "bob": "tiny"},
        },
    }
    settings = {"redis_url": REDIS_URL, "redis_prefix": redis_prefix}
    with proxy_for(document, **settings) as proxy:
        url = proxy.server.url
        alerts = 'codelab_llm_budget_alerts_total{scope="team:big"}'
        assert chat(proxy, "tb", headers=proxy.headers(sub="alice")).status_code == 200
        assert _eventually(lambda: _metric(url, alerts)) == 1.0
        assert chat(proxy, "tb", headers=proxy.headers(sub="alice")).status_code == 200
        assert chat(proxy, "tb", headers=proxy.headers(sub="bob")).status_code == 200
        tiny = 'codelab_llm_budget_remaining_usd{scope="team:tiny"}'
        assert _eventually(lambda: _metric(url, tiny)) == 0.0
        stopped = chat(proxy, "tb", headers=proxy.headers(sub="bob"))
        remaining = _metric(url, 'codelab_llm_budget_remaining_usd{scope="team:big"}')
        assert _metric(url, alerts) == 1.0  # crossed once, not on every call after
    assert stopped.status_code == 429
    assert "team tiny budget of $1 per day" in stopped.json()["error"]["message"]
    assert remaining is not None
    assert 900 < remaining < 1000
    # The proxy's own logging setup writes JSON lines to stderr (it replaces caplog's handler).
    assert "budget alert: team:big has spent" in capsys.readouterr().err


def test_team_of_must_name_a_team_with_a_budget() -> None:
    with pytest.raises(ValidationError, match="teams without a budget"):
        LimitsConfig.model_validate({"team_of": {"alice": "ghost"}})
