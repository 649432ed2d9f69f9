"""In the gateway, skills that generate use the router's llama-server child for their model, not a second
copy of the model in the gateway; elsewhere they stay in-process. Real gateway, real child, the tiny packaged
generator (SmolLM2-135M): what is checked is where the work runs and the shape of the results, not quality."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import httpx
import pytest
from jsonschema import Draft202012Validator

from conftest import serve_app
from slmkit.config import Settings, get_settings
from slmkit.config.router import RouterSettings, TierConfig
from slmkit.models.llama import LlamaGenerator, get_generator, inprocess_generator, use_server_runtime
from slmkit.models.served import ServerGenerator
from slmkit.router.tiers import ServerTier, server_runtime

MODEL = "smollm2-135m"
_TIERS = {"small": TierConfig(model=MODEL), "large": TierConfig(model=MODEL)}
CONTACT = {"type": "object", "properties": {"name": {"type": "string"}, "city": {"type": "string"}},
           "required": ["name", "city"]}
NOTE = ("The council of Riverton voted on Tuesday to build a library on the old railway depot site. It will cost "
        "12 million dollars and open in two years. Critics say the money should repair roads.")


def _tasks(log: Path) -> int:
    """Generations the child started: llama-server logs one 'processing task' line per request it serves."""
    return log.read_text(errors="replace").count("processing task") if log.exists() else 0


def test_outside_the_gateway_generators_stay_in_process():
    use_server_runtime(None)
    assert isinstance(get_generator(MODEL), LlamaGenerator)
    assert get_generator(MODEL) is inprocess_generator(MODEL)
    # Router settings outside the gateway run local tiers in-process: there is no server runtime to use.
    assert server_runtime(RouterSettings(tiers=_TIERS)) is None


@pytest.fixture
def gateway(tmp_path, settings_env):
    from slmkit.gateway.app import create_app

    settings_env(generator_model=MODEL)  # the skills' default generator is the tiers' model
    inprocess_generator(MODEL).close()  # an in-process copy another test loaded: none from here on
    app = create_app(Settings(data_dir=tmp_path, generator_model=MODEL,
                              router=RouterSettings(tiers=_TIERS, strategy="small", slots=2)))
    with serve_app(app) as base:
        yield base, app
    assert isinstance(get_generator(MODEL), LlamaGenerator)  # the gateway stopped: in-process again


def test_in_the_gateway_extract_and_summarize_run_on_the_tiers_child(gateway):
    base, app = gateway
    tier = app.state.gateway.router.tier("small")
    assert isinstance(tier, ServerTier)
    served = get_generator(MODEL)
    assert isinstance(served, ServerGenerator)
    assert served is tier.generator and served.server is tier.server  # one child, one HTTP pool, both users
    log = tier.server.log_path
    assert log.parent == get_settings().data_dir / "logs"
    before = _tasks(log)

    r = httpx.post(f"{base}/v1/skills/extract", timeout=600,
                   json={"input": "Ada Lovelace lives in London.", "schema": CONTACT})
    assert r.status_code == 200, r.text
    result = r.json()["results"][0]
    assert Draft202012Validator(CONTACT).is_valid(result["data"]) and result["model"] == MODEL
    assert result["completion_tokens"] > 0
    after_extract = _tasks(log)
    assert after_extract - before >= result["attempts"]  # each attempt was a request to the child

    r = httpx.post(f"{base}/v1/skills/summarize", timeout=600, json={"input": NOTE, "max_words": 20})
    assert r.status_code == 200, r.text
    summary = r.json()["results"][0]
    assert summary["model"] == MODEL and summary["words"] <= 20 and summary["completion_tokens"] > 0
    assert _tasks(log) > after_extract

    # A grammar llama.cpp's parser rejects: the child refuses it (400), as the in-process check does.
    r = httpx.post(f"{base}/v1/skills/extract", timeout=600, json={
        "input": "code 1234", "schema": {"type": "object", "properties": {"code": {"type": "string",
                                                                                   "pattern": r"^\d{4}$"}}}})
    assert r.status_code == 400 and "rejects the grammar" in r.json()["error"]["message"]

    # None of it loaded the model into the gateway's process.
    assert not inprocess_generator(MODEL).ready
    # What RAG's answerer uses to fit its sources, from the child's tokenizer: the in-process count.
    text = "Riverton's library: 12 million dollars <|im_end|>"
    assert served.count_tokens(text) == inprocess_generator(MODEL).count_tokens(text)


@pytest.mark.slow  # a child killed and restarted under a generation: 46-84 s on the contended 2-core machine
def test_a_skill_whose_child_dies_under_it_gets_a_clear_502_then_works_again(gateway):
    base, app = gateway
    tier = app.state.gateway.router.tier("small")
    tier.warm_up()
    pid, seen = tier.server.pid, {}

    def long_summary() -> None:
        seen["r"] = httpx.post(f"{base}/v1/skills/summarize", timeout=600,
                               json={"input": NOTE * 6, "max_words": 400})

    in_flight = threading.Thread(target=long_summary)
    in_flight.start()
    deadline = time.time() + 300
    while tier.busy_slots() == 0:
        assert time.time() < deadline, "the summary never reached the child"
        assert in_flight.is_alive(), seen["r"].text
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)
    in_flight.join(600)
    assert seen["r"].status_code == 502, seen["r"].text
    assert "died during the request (killed by SIGKILL)" in seen["r"].json()["error"]["message"]
    r = httpx.post(f"{base}/v1/skills/summarize", timeout=600, json={"input": NOTE, "max_words": 10})
    assert r.status_code == 200, r.text  # waited for the restarted child
    assert tier.server.restarts >= 1 and tier.server.pid not in (None, pid)
