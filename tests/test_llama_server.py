"""Local tiers in supervised llama-server children: the real binary `make install` builds, the tiny
packaged generator (SmolLM2-135M), real processes killed for real."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from slmkit.config.router import RouterSettings, TierConfig
from slmkit.errors import InvalidInputError
from slmkit.models.catalog import get_spec
from slmkit.models.llama import LlamaGenerator, get_generator
from slmkit.models.tool_calls import Tool, ToolUse
from slmkit.router.tiers import ServerTier, TierError, make_tier

HELLO = [{"role": "user", "content": "Say hello to Ada in five words."}]
LONG = [{"role": "user", "content": "Write a very long story about a dragon who collects teapots."}]
_TIERS = {"small": TierConfig(model="smollm2-135m"), "large": TierConfig(model="smollm2-135m")}


def _tier(slots: int = 2, name: str = "small") -> ServerTier:
    settings = RouterSettings(tiers=_TIERS, runtime="server", slots=slots)
    tier = make_tier(name, settings, threads=2)
    assert isinstance(tier, ServerTier)
    return tier


@pytest.fixture(scope="module")
def tier():
    from slmkit.models.llama_server import stop_all

    # A child of its own: one that served other modules' prompts keeps them in its slots, evaluates the next
    # prompt in other batch shapes, and the tiny model's greedy text can then part at a near-tie.
    stop_all()
    return _tier().warm_up()


def test_auto_is_inprocess_outside_the_gateway_and_server_inside():
    settings = RouterSettings(tiers=_TIERS)
    assert settings.runtime == "auto" and settings.runtime_of("small") == "inprocess"
    assert settings.for_gateway().runtime_of("small") == "auto"  # server once built, as here:
    assert isinstance(make_tier("small", settings.for_gateway()), ServerTier)
    pinned = settings.model_copy(update={"tiers": {**settings.tiers, "small": TierConfig(model="smollm2-135m",
                                                                                         runtime="inprocess")}})
    assert pinned.for_gateway().runtime_of("small") == "inprocess"


def test_the_child_is_loopback_only_and_wants_its_key(tier):
    endpoint = tier.server.endpoint()
    assert endpoint.base_url.startswith("http://127.0.0.1:")
    r = httpx.post(endpoint.base_url + "/chat/completions", json={"messages": HELLO, "max_tokens": 2}, timeout=30)
    assert r.status_code == 401
    cmdline = Path(f"/proc/{endpoint.pid}/cmdline").read_bytes().decode()
    assert endpoint.api_key not in cmdline  # the key travels in the environment, not where `ps` shows it


def test_the_child_yields_the_cpu_to_the_gateway(tier):
    endpoint = tier.server.endpoint()
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    assert os.getpriority(os.PRIO_PROCESS, endpoint.pid) == min(19, ours + RouterSettings().server_nice) > ours
    args = Path(f"/proc/{endpoint.pid}/cmdline").read_bytes().decode().split("\0")
    assert args[args.index("--poll") + 1] == str(RouterSettings().server_poll)


def test_greedy_answer_and_token_counts_match_the_in_process_runtime(tier):
    served = tier.answer(HELLO, max_tokens=16).completion
    # A fresh in-process model: one that evaluated other prompts first reuses their prefix in other batch
    # shapes, and a 135M model's greedy text can part at a near-tie (this test then depends on test order).
    fresh = LlamaGenerator(get_spec("smollm2-135m"), threads=2)
    try:
        local = fresh.chat(HELLO, max_tokens=16)
    finally:
        fresh.close()
    assert served.text == local.text and served.text.strip()
    assert served.prompt_tokens == local.prompt_tokens
    # llama-server counts the end-of-turn token it sampled; the in-process runtime stops before counting it.
    assert served.completion_tokens - local.completion_tokens == (1 if local.finish_reason == "stop" else 0)
    assert served.finish_reason == local.finish_reason


def test_stream_gives_pieces_then_counts(tier):
    deltas = list(tier.stream(HELLO, max_tokens=10))
    assert "".join(d.text for d in deltas).strip()
    assert deltas[-1].finish_reason in {"stop", "length"}
    assert deltas[-1].prompt_tokens > 3 and 0 < deltas[-1].completion_tokens <= 10


def test_scored_answer_carries_the_cascade_confidence(tier):
    answer = tier.answer(HELLO, max_tokens=8, scored=True)
    assert answer.confidence is not None and 0.0 < answer.confidence <= 1.0


def test_json_schema_constrains_and_bad_grammars_are_refused(tier):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
              "required": ["city", "days"]}
    text = tier.answer([{"role": "user", "content": "Trip: 3 days in Rome, as JSON."}], max_tokens=40,
                       json_schema=schema).completion.text
    data = json.loads(text)
    assert isinstance(data["city"], str) and isinstance(data["days"], int)
    with pytest.raises(InvalidInputError, match="rejects the grammar"):
        tier.answer([{"role": "user", "content": "a code"}], max_tokens=8,
                    json_schema={"type": "object", "properties": {"code": {"type": "string", "pattern": r"^\d{4}$"}}})
    with pytest.raises(InvalidInputError, match="cannot turn this schema"):
        tier.answer(HELLO, max_tokens=8,
                    json_schema={"type": "object", "properties": {"a": {"not": {"type": "string"}}}})
    with pytest.raises(InvalidInputError, match="messages is empty"):
        tier.answer([], max_tokens=8)
    with pytest.raises(InvalidInputError, match="exceeds the context"):
        tier.answer([{"role": "user", "content": "word " * 3000}], max_tokens=8)
    assert tier.answer(HELLO, max_tokens=4).completion.text  # and the child is still there


def test_a_forced_tool_call_comes_back_as_a_call(tier):
    weather = Tool("get_weather", "Weather for a city", {"type": "object", "properties": {"city": {"type": "string"}},
                                                          "required": ["city"]})
    use = ToolUse((weather,), "required")
    completion = tier.answer([{"role": "user", "content": "Weather in Oslo?"}], max_tokens=40, tools=use).completion
    assert completion.finish_reason == "tool_calls" and completion.tool_calls[0].name == "get_weather"
    assert "city" in json.loads(completion.tool_calls[0].arguments)
    pieces = list(tier.stream([{"role": "user", "content": "Weather in Oslo?"}], max_tokens=40, tools=use))
    assert pieces[-1].finish_reason == "tool_calls" and any(p.tool_call is not None for p in pieces)


def test_concurrent_requests_share_the_slots(tier):
    results: list[str] = []
    threads = [threading.Thread(target=lambda: results.append(tier.answer(HELLO, max_tokens=12).completion.text))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    # All four answered from one child. Greedy texts may differ between slots: a batch of several
    # sequences rounds differently from one alone, and a 135M model's near-ties then flip.
    assert len(results) == 4 and all(r.strip() for r in results)


def test_kill_9_fails_the_requests_in_flight_clearly_then_the_child_is_back():
    tier = _tier(slots=1).warm_up()  # its own child: the other tests keep theirs
    server = tier.server
    before, pid = server.restarts, server.pid
    stream = tier.stream(LONG, max_tokens=1500)
    assert next(stream).text is not None  # generating now
    failure: list[BaseException] = []

    def waiting() -> None:  # queued behind the stream in the child's one slot
        try:
            tier.answer(LONG, max_tokens=200)
        except TierError as exc:
            failure.append(exc)

    queued = threading.Thread(target=waiting)
    queued.start()
    time.sleep(0.5)
    os.kill(pid, signal.SIGKILL)
    rest = list(stream)
    assert rest[-1].finish_reason == "error"  # the stream already under way ends, marked
    queued.join(60)
    assert failure and "died during the request" in str(failure[0]) and "SIGKILL" in str(failure[0])
    assert tier.answer(HELLO, max_tokens=4).completion.text  # waits for the restarted child
    assert server.restarts == before + 1 and server.pid not in (None, pid)


def test_through_the_gateway_a_killed_child_is_a_clear_502_then_back_and_counted(tmp_path):
    from conftest import serve_app
    from slmkit.config import Settings
    from slmkit.gateway.app import create_app

    app = create_app(Settings(data_dir=tmp_path, router=RouterSettings(tiers=_TIERS, strategy="small", slots=3)))
    with serve_app(app) as base:
        tier = app.state.gateway.router.tier("small")
        assert isinstance(tier, ServerTier)  # the gateway's default runtime
        pid, seen = tier.server.pid, {}

        def long_chat() -> None:
            seen["r"] = httpx.post(base + "/v1/chat/completions", timeout=180,
                                   json={"model": "small", "max_tokens": 1500, "messages": LONG})

        in_flight = threading.Thread(target=long_chat)
        in_flight.start()
        deadline = time.time() + 60
        while tier.busy_slots() == 0:
            assert time.time() < deadline, "the chat never reached the child"
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
        in_flight.join(180)
        assert seen["r"].status_code == 502
        assert "died during the request (killed by SIGKILL)" in seen["r"].json()["error"]["message"]
        after = httpx.post(base + "/v1/chat/completions", timeout=180,
                           json={"model": "small", "max_tokens": 4, "messages": HELLO})
        assert after.status_code == 200, after.text
        metrics = httpx.get(base + "/metrics", timeout=30).text
        assert 'slmkit_generator_restarts_total{model="smollm2-135m",slots="3",threads="2"} 1' in metrics


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid and "llama-server" in stat:
                found.append(int(entry.name))
    return found


def _gone(pid: int, bound_s: float = 15.0) -> bool:
    deadline = time.time() + bound_s
    while time.time() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True  # dead, waiting to be reaped by init
        time.sleep(0.1)
    return False


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL])
def test_slmkit_serve_leaves_no_llama_server_behind(tmp_path, sig):
    (tmp_path / "config.yaml").write_text(
        "router:\n  strategy: small\n  tiers:\n    small: {model: smollm2-135m}\n    large: {model: smollm2-135m}\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SLMKIT_DATA_DIR": str(tmp_path), "SLMKIT_CONFIG": str(tmp_path / "config.yaml")}
    serve = subprocess.Popen([sys.executable, "-m", "slmkit.cli", "serve", "--port", str(port)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 180
        while True:
            assert serve.poll() is None, serve.stderr.read().decode()[-2000:] if serve.stderr else ""
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.time() < deadline, "slmkit serve did not come up"
            time.sleep(0.5)
        children = _children(serve.pid)
        assert len(children) == 1  # small and large name the same model: one child
        serve.send_signal(sig)
        serve.wait(60)
        assert _gone(children[0]), f"llama-server {children[0]} outlived `slmkit serve` ({sig.name})"
    finally:
        if serve.poll() is None:
            serve.kill()
