"""Retries, fallbacks and deadlines against real fake providers, on both provider paths."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from codelab_testing.fake_provider import FakeProvider, Reply

from .conftest import ProxyFor, chat, deployment, sse_events

PATHS = pytest.mark.parametrize("fast", [True, False], ids=["fast-path", "litellm-path"])


def _document(primary: str, backup: str, fast: bool, **router: object) -> dict[str, object]:
    return {
        "model_list": [
            deployment("coder", primary, fast=fast),
            deployment("coder-backup", backup, fast=fast),
        ],
        "router": {"fallbacks": {"coder": ["coder-backup"]}, "backoff_base": 0.01, **router},
    }


@PATHS
def test_retryable_error_is_retried_then_falls_back(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
    fast: bool,
) -> None:
    document = _document(provider.base_url, backup.base_url, fast, retries=1)
    with proxy_for(document) as proxy:
        provider.set_script("r", [Reply.error(500), Reply.error(503)])
        backup.set_script("r", [Reply.text("from backup")])
        response = chat(proxy, "r")
    assert response.status_code == 200, response.text
    assert response.json()["choices"][0]["message"]["content"] == "from backup"
    assert response.json()["model"] == "coder"
    assert response.headers["x-codelab-served-by"] == "coder-backup"
    # One retry on the primary, then the fallback.
    assert (len(provider.requests("r")), len(backup.requests("r"))) == (2, 1)


@PATHS
def test_a_request_the_provider_refused_is_never_retried(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
    fast: bool,
) -> None:
    document = _document(provider.base_url, backup.base_url, fast, retries=3)
    with proxy_for(document) as proxy:
        provider.set_script("bad", [Reply.error(400, "nope")])
        response = chat(proxy, "bad")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "provider_rejected_request"
    assert len(provider.requests("bad")) == 1
    assert backup.requests("bad") == []


@PATHS
@pytest.mark.parametrize("status", [401, 403, 404])
def test_a_misconfigured_deployment_is_skipped_not_retried(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
    fast: bool,
    status: int,
) -> None:
    document = _document(provider.base_url, backup.base_url, fast, retries=3)
    with proxy_for(document) as proxy:
        provider.set_script("key", [Reply.error(status, "bad key")])
        backup.set_script("key", [Reply.text("served by the backup")])
        rescued = chat(proxy, "key")
        backup.set_script("both", [Reply.error(status, "bad key")])
        provider.set_script("both", [Reply.error(status, "bad key")])
        failed = chat(proxy, "both")
    assert rescued.status_code == 200, rescued.text
    assert rescued.json()["choices"][0]["message"]["content"] == "served by the backup"
    assert (len(provider.requests("key")), len(backup.requests("key"))) == (1, 1)
    # Every deployment refused us: 502, the caller cannot fix it.
    assert failed.status_code == 502
    assert failed.json()["error"]["code"] == "provider_misconfigured"
    assert len(backup.requests("both")) == 1


def _clean_stream_text(response: httpx.Response) -> str:
    """The streamed text, after checking the stream completed without an error event."""
    events = sse_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("error" not in c for c in chunks)
    return "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])


@PATHS
def test_stream_fails_over_before_the_first_token(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
    fast: bool,
) -> None:
    document = _document(provider.base_url, backup.base_url, fast, retries=0)
    with proxy_for(document) as proxy:
        provider.set_script("s", [Reply.error(429, "busy")])
        backup.set_script("s", [Reply.text("clean stream from backup")])
        response = chat(proxy, "s", stream=True)
    assert response.status_code == 200
    assert _clean_stream_text(response) == "clean stream from backup"


@PATHS
def test_stream_dying_after_the_first_token_ends_with_error_and_usage(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
    fast: bool,
) -> None:
    document = _document(provider.base_url, backup.base_url, fast)
    with proxy_for(document) as proxy:
        provider.set_script("die", [Reply(content="y" * 40, chunk_chars=4, abort_after_chunks=4)])
        response = chat(proxy, "die", stream=True)
    events = sse_events(response)
    last = json.loads(events[-1])
    assert last["error"]["code"] in {"provider_unavailable", "provider_error"}
    assert last["usage"]["completion_tokens"] >= 3
    assert last["usage"]["prompt_tokens"] > 0
    assert backup.requests("die") == []


@PATHS
def test_hung_attempt_times_out_and_falls_back(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
    fast: bool,
) -> None:
    document = _document(provider.base_url, backup.base_url, fast, retries=0, attempt_timeout=0.25)
    with proxy_for(document) as proxy:
        provider.set_script("h", [Reply(content="never", hang_after_chunks=0, hang_seconds=2)])
        backup.set_script("h", [Reply.text("rescued")])
        started = time.monotonic()
        response = chat(proxy, "h", stream=True)
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert _clean_stream_text(response) == "rescued"
    assert elapsed < 3


@PATHS
def test_stream_going_silent_ends_within_the_idle_timeout(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
    fast: bool,
) -> None:
    document = _document(provider.base_url, backup.base_url, fast, stream_idle_timeout=0.25)
    with proxy_for(document) as proxy:
        provider.set_script("quiet", [Reply(content="z" * 40, hang_after_chunks=2, hang_seconds=2)])
        started = time.monotonic()
        response = chat(proxy, "quiet", stream=True)
        elapsed = time.monotonic() - started
    last = json.loads(sse_events(response)[-1])
    assert last["error"]["code"] == "provider_timeout"
    assert elapsed < 3


def test_total_deadline_bounds_every_attempt(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
) -> None:
    document = _document(
        provider.base_url,
        backup.base_url,
        True,
        retries=5,
        attempt_timeout=0.2,
        total_timeout=0.5,
    )
    hang = Reply(content="never", hang_after_chunks=0, hang_seconds=2)
    with proxy_for(document) as proxy:
        provider.set_script("t", [hang] * 10)
        backup.set_script("t", [hang] * 10)
        started = time.monotonic()
        response = chat(proxy, "t")
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert elapsed < 1.2


@PATHS
def test_prompt_too_long_goes_to_the_larger_context_model(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
    fast: bool,
) -> None:
    document = {
        "model_list": [
            deployment("coder", provider.base_url, fast=fast),
            deployment("coder-long", backup.base_url, fast=fast),
        ],
        "router": {"context_fallbacks": {"coder": "coder-long"}},
    }
    too_long = "This model's maximum context length is 4096 tokens; your messages were 9000"
    with proxy_for(document) as proxy:
        provider.set_script("ctx", [Reply.error(400, too_long), Reply.error(400, "bad tool")])
        backup.set_script("ctx", [Reply.text("read it all")])
        rescued = chat(proxy, "ctx")
        other_400 = chat(proxy, "ctx")
    assert rescued.status_code == 200
    assert rescued.headers["x-codelab-served-by"] == "coder-long"
    assert rescued.json()["choices"][0]["message"]["content"] == "read it all"
    assert other_400.status_code == 400
    assert len(backup.requests("ctx")) == 1


def test_the_context_fallback_shares_the_requests_deadline(
    proxy_for: ProxyFor,
    provider: FakeProvider,
    backup: FakeProvider,
) -> None:
    document = {
        "model_list": [
            deployment("coder", provider.base_url),
            deployment("coder-b", backup.base_url),
            deployment("coder-long", provider.base_url),
        ],
        "router": {
            "fallbacks": {"coder": ["coder-b"]},
            "context_fallbacks": {"coder": "coder-long"},
            "retries": 0,
            "attempt_timeout": 1.0,
            "total_timeout": 1.3,
        },
    }
    hang = Reply(content="never", hang_after_chunks=0, hang_seconds=3)
    too_long = "This model's maximum context length is 4096 tokens"
    with proxy_for(document) as proxy:
        # coder hangs for its whole attempt, coder-b says the prompt is too long, and the
        # larger model hangs too: it may only use what is left of the 1.3 s.
        provider.set_script("deadline", [hang, hang])
        backup.set_script("deadline", [Reply.error(400, too_long)])
        started = time.monotonic()
        response = chat(proxy, "deadline")
        elapsed = time.monotonic() - started
    assert response.status_code == 504
    assert len(provider.requests("deadline")) == 2  # coder, then coder-long
    assert elapsed < 1.75  # a fresh deadline for the fallback would take 2 s
