"""A client that walks away from a streamed chat must not take the tier with it.

The real small local tier (SmolLM2-135M) behind a real server: a streamed answer is started, one
chunk is read, the connection is closed; the next request to the same tier has to answer promptly,
and the abandoned generation has to stop early instead of running to max_tokens."""

from __future__ import annotations

import json
import socket
import time
from urllib.parse import urlsplit

import httpx
import openai
import pytest

from conftest import serve_app
from slmkit.config import Settings
from slmkit.config.router import RouterSettings, TierConfig

LONG = [{"role": "user", "content": "Write a very long story about a dragon who collects teapots."}]
MAX = 1500  # far more than a prompt bound answers within: if the abandoned stream ran on, it would show


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from slmkit.gateway.app import create_app

    tiers = {"small": TierConfig(model="smollm2-135m"), "large": TierConfig(model="smollm2-135m")}
    settings = Settings(data_dir=tmp_path_factory.mktemp("gateway-disconnect"),
                        router=RouterSettings(tiers=tiers, strategy="small"))
    app = create_app(settings)
    with serve_app(app) as base:
        yield {"base": base, "app": app}


def _freed(app, bound_s: float = 15.0) -> None:
    """The abandoned generation lets go of the model within a few tokens (before the fix: never)."""
    tier = app.state.gateway.router.tier("small")
    if hasattr(tier, "busy_slots"):  # the gateway's default runtime: the child stops the abandoned slot
        busy = lambda: tier.busy_slots() > 0  # noqa: E731
    else:
        busy = tier._generator._lock.locked
    deadline = time.time() + bound_s
    while busy():
        assert time.time() < deadline, "the abandoned generation still holds the model"
        time.sleep(0.05)


def _answers(base: str, bound_s: float = 60.0) -> None:
    # Generous: on a shared, busy machine four tokens can take seconds; a wedged tier never answers.
    r = httpx.post(base + "/v1/chat/completions", timeout=bound_s,
                   json={"model": "small", "max_tokens": 4, "messages": [{"role": "user", "content": "Say hi."}]})
    assert r.status_code == 200, r.text


def _abandoned_row(app, before: float) -> dict:
    """The request-log row of the abandoned stream (written when the server noticed the client left)."""
    store = app.state.gateway.store
    deadline = time.time() + 10
    while True:
        rows = [r for r in store.requests(20) if r["ts"] >= before and r["status"] == 499]
        if rows:
            return rows[0]
        assert time.time() < deadline, "the abandoned stream never reached the request log"
        time.sleep(0.2)


def test_closing_the_socket_after_one_chunk_frees_the_tier(server):
    url = urlsplit(server["base"])
    body = json.dumps({"model": "small", "stream": True, "max_tokens": MAX, "messages": LONG}).encode()
    before = time.time()
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
        seen = b""
        while b'"content": "' not in seen.split(b"\r\n\r\n", 1)[-1].replace(b'"content": ""', b""):
            chunk = sock.recv(4096)
            assert chunk, "the server closed before the first piece of the answer"
            seen += chunk
        assert seen.startswith(b"HTTP/1.1 200")
    _freed(server["app"])
    _answers(server["base"])
    row = _abandoned_row(server["app"], before)
    assert row["error"] == "the client disconnected" and row["completion_tokens"] < MAX / 2


def test_closing_an_openai_sdk_stream_frees_the_tier(server):
    client = openai.OpenAI(base_url=server["base"] + "/v1", api_key="unused", max_retries=0, timeout=30)
    before = time.time()
    stream = client.chat.completions.create(model="small", messages=LONG, max_tokens=MAX, stream=True)
    first = next(iter(stream))
    assert first.choices[0].delta.role == "assistant"
    stream.close()
    _freed(server["app"])
    _answers(server["base"])
    _answers(server["base"])  # and the one after: nothing was left half-held
    assert _abandoned_row(server["app"], before)["error"] == "the client disconnected"
