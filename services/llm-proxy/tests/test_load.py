"""Behaviour under load: shedding with 503 + Retry-After, cancelling when the client goes."""

from __future__ import annotations

import asyncio
import time

import httpx

from codelab_testing.fake_provider import FakeProvider, Reply

from .conftest import ProxyFor, deployment


async def test_saturated_proxy_sheds_load_with_503_and_retry_after(
    proxy_for: ProxyFor, provider: FakeProvider
) -> None:
    document = {"model_list": [deployment("coder", provider.base_url)]}
    with proxy_for(document, max_in_flight=2) as proxy:
        provider.set_script("slow", [Reply(content="late", delay_per_chunk=0.3)] * 4)
        body = {"model": "coder", "messages": [{"role": "user", "content": "[[script:slow]]"}]}
        async with httpx.AsyncClient(headers=proxy.headers(), timeout=10) as http:
            url = f"{proxy.base_url}/chat/completions"
            responses = await asyncio.gather(*(http.post(url, json=body) for _ in range(4)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 503, 503]
    shed = next(r for r in responses if r.status_code == 503)
    assert shed.headers["retry-after"] == "1"
    assert shed.json()["error"]["code"] == "overloaded"


async def test_client_leaving_mid_stream_cancels_the_upstream_call(
    proxy_for: ProxyFor, provider: FakeProvider
) -> None:
    document = {"model_list": [deployment("coder", provider.base_url)]}
    ledger = {"ledger_enabled": True}
    with proxy_for(document, **ledger) as proxy:
        provider.set_script("long", [Reply(content="x" * 400, chunk_chars=4, delay_per_chunk=0.1)])
        body = {
            "model": "coder",
            "stream": True,
            "messages": [{"role": "user", "content": "[[script:long]]"}],
        }
        cancelled = 'codelab_llm_requests_total{kind="chat",model="coder",outcome="cancelled"} 1.0'
        exposition = ""
        async with httpx.AsyncClient(headers=proxy.headers(), timeout=10) as http:
            url = f"{proxy.base_url}/chat/completions"
            async with http.stream("POST", url, json=body) as response:
                async for _ in response.aiter_bytes():
                    break
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline and cancelled not in exposition:
                await asyncio.sleep(0.1)
                exposition = (await http.get(f"{proxy.server.url}/metrics")).text
            usage = await http.get(f"{proxy.base_url}/usage", params={"group_by": "none"})
    assert cancelled in exposition
    assert 'outcome="ok"' not in exposition
    # What the provider generated before the caller left is still charged (estimated: the
    # usage chunk comes last and never arrived).
    [row] = usage.json()["data"]
    assert row["outcome"] == "cancelled"
    assert row["prompt_tokens"] > 0
    assert 1 <= row["completion_tokens"] < 100  # a few chunks of the 100 were streamed
