"""The gateway as a real server on loopback, driven by the official `openai` client and plain HTTP.

Local tiers are real (SmolLM2-135M small, Qwen2.5-Coder-0.5B large, to stay quick); the one remote
tier points at tests/upstream.py, which misbehaves on command to inject faults."""

from __future__ import annotations

import json
import time

import httpx
import openai
import pytest

from conftest import serve_app
from slmkit.config import Settings
from slmkit.config.gateway import GatewaySettings
from slmkit.config.guard import GuardPolicy
from slmkit.config.router import RouterSettings, TierConfig
from upstream import Upstream

EMAIL = "marta.kowalska@example.org"


@pytest.fixture(scope="module")
def upstream():
    up = Upstream("ok")
    yield up
    up.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, upstream):
    from slmkit.gateway.app import create_app

    data = tmp_path_factory.mktemp("gateway")
    tiers = {
        "small": TierConfig(model="smollm2-135m"),
        "large": TierConfig(model="qwen2.5-coder-0.5b"),
        "remote": TierConfig(kind="remote", model="big-remote", base_url=upstream.url, timeout_s=1.0, retries=0,
                             breaker_failures=2, breaker_cooldown_s=60.0, price_in_per_1k=0.01, price_out_per_1k=0.03),
    }
    settings = Settings(data_dir=data, router=RouterSettings(tiers=tiers, strategy="small"),
                        guard=GuardPolicy(redact="reversible", moderation="off", injection="off"),
                        gateway=GatewaySettings(max_body_bytes=64_000))
    app = create_app(settings)
    with serve_app(app) as base:
        yield {"base": base, "app": app, "data": data}


@pytest.fixture
def client(server):
    return openai.OpenAI(base_url=server["base"] + "/v1", api_key="unused-on-loopback", max_retries=0)


def test_models_lists_router_tiers_and_skills(client):
    ids = {m.id for m in client.models.list().data}
    assert {"auto", "small", "large", "remote", "skill:sentiment"} <= ids


def test_chat_answers_with_usage_and_says_which_tier(client):
    raw = client.chat.completions.with_raw_response.create(
        model="small", messages=[{"role": "user", "content": "Say hello."}], max_tokens=8)
    chat = raw.parse()
    assert chat.choices[0].message.content.strip()
    assert chat.usage.prompt_tokens > 0 and 0 < chat.usage.completion_tokens <= 8
    assert raw.headers["x-slmkit-tier"] == "small" and raw.headers["x-slmkit-strategy"] == "pinned"
    assert float(raw.headers["x-slmkit-saved-usd"]) > 0
    assert chat.model_extra["slmkit"]["tier"] == "small"


def test_auto_routes_by_the_configured_strategy(client):
    raw = client.chat.completions.with_raw_response.create(
        model="auto", messages=[{"role": "user", "content": "Say hi."}], max_tokens=4)
    assert raw.headers["x-slmkit-tier"] == "small" and raw.headers["x-slmkit-strategy"] == "small"


def test_chat_streams_pieces_then_usage(client):
    stream = client.chat.completions.create(model="small", messages=[{"role": "user", "content": "Count to three."}],
                                            max_tokens=10, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_json_schema_output_is_valid(client):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
              "required": ["city", "days"], "additionalProperties": False}
    chat = client.chat.completions.create(
        model="small", max_tokens=40,
        messages=[{"role": "user", "content": "A 3-day trip to Rome. Answer as JSON with city and days."}],
        response_format={"type": "json_schema", "json_schema": {"name": "trip", "schema": schema}})
    data = json.loads(chat.choices[0].message.content)
    assert set(data) == {"city", "days"} and isinstance(data["days"], int)


def test_embeddings_are_unit_vectors_and_similar_texts_are_closer(client):
    out = client.embeddings.create(model="auto", input=["book a table for two", "reserve a restaurant table",
                                                        "the weather in Oslo"])
    vectors = [d.embedding for d in out.data]
    assert len(vectors) == 3 and len(vectors[0]) == 384
    dot = lambda a, b: sum(x * y for x, y in zip(a, b, strict=True))  # noqa: E731
    assert dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2])


def test_moderations_flag_abuse_and_pass_the_benign(client):
    out = client.moderations.create(input=["you are a worthless idiot and I hate you", "thanks for the lovely dinner"])
    assert out.results[0].flagged and not out.results[1].flagged


def test_openai_errors_for_unknown_model_and_bad_values(client):
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        client.chat.completions.create(model="gpt-9", messages=[{"role": "user", "content": "hi"}])
    with pytest.raises(openai.BadRequestError, match="max_tokens"):
        client.chat.completions.create(model="small", messages=[{"role": "user", "content": "hi"}], max_tokens=0)


def test_skills_over_plain_http(server):
    base = server["base"]
    r = httpx.post(f"{base}/v1/skills/sentiment", json={"input": ["I loved it", "dull and far too long"]})
    assert r.status_code == 200 and [x["label"] for x in r.json()["results"]] == ["positive", "negative"]
    r = httpx.post(f"{base}/v1/skills/pii", json={"input": f"Write to {EMAIL} today"})
    assert any(span["type"] == "EMAIL" for span in r.json()["results"][0])
    r = httpx.post(f"{base}/v1/skills/redact", json={"input": f"Write to {EMAIL} today", "mode": "reversible"})
    assert EMAIL not in json.dumps(r.json())
    r = httpx.post(f"{base}/v1/skills/classify", json={"input": "will it rain tomorrow",
                                                       "labels": ["weather", "music"]})
    assert r.json()["results"][0]["label"] == "weather"
    r = httpx.post(f"{base}/v1/skills/rerank", json={"input": "capital of France",
                                                     "passages": ["Bananas are yellow.", "Paris is France's capital."]})
    assert r.json()["results"][0]["index"] == 1
    r = httpx.post(f"{base}/v1/skills/langid", json={"input": "Das ist ein schöner Tag"})
    assert r.json()["results"][0]["lang"] == "de"
    r = httpx.post(f"{base}/v1/skills/teleport", json={"input": "x"})
    assert r.status_code == 400 and "error" in r.json()


def test_workflows_list_and_run_over_http(server):
    base = server["base"]
    listed = httpx.get(f"{base}/v1/workflows").json()["data"]
    assert "triage" in [w["name"] for w in listed]
    text = "Hi, Jonas Weber here (jonas.weber@example.de). My parcel was never delivered and tracking shows nothing."
    r = httpx.post(f"{base}/v1/workflows/triage", json={"inputs": {"text": text}}, timeout=120)
    assert r.status_code == 200, r.text
    run = r.json()
    assert run["status"] == "ok" and run["output"]["queue"] == "shipping"
    assert "jonas.weber@example.de" not in run["output"]["text"]
    assert [s["tier"] for s in run["steps"]] == ["skill:redact", "skill:classify", "skill:sentiment", "skill:enqueue"]
    r = httpx.post(f"{base}/v1/workflows/nope", json={"inputs": {}})
    assert r.status_code == 404 and r.json()["error"]["code"] == "workflow_not_found"
    r = httpx.post(f"{base}/v1/workflows/triage", json={"inputs": {"txt": "x"}})
    assert r.status_code == 400 and "no input" in r.json()["error"]["message"]
    r = httpx.post(f"{base}/v1/plan", json={"request": ""})
    assert r.status_code == 400


def test_malformed_and_oversized_bodies(server):
    base = server["base"]
    r = httpx.post(f"{base}/v1/chat/completions", content=b'{"model": "small", "messages": [',
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = httpx.post(f"{base}/v1/embeddings", json={"input": "x" * 70_000})
    assert r.status_code == 413 and "larger than" in r.json()["error"]["message"]

    def chunks():
        for _ in range(100):
            yield b"x" * 1000

    r = httpx.post(f"{base}/v1/embeddings", content=chunks(), headers={"Content-Type": "application/json"})
    assert r.status_code == 413


def test_remote_tier_gets_redacted_text_and_the_answer_comes_back_personal(client, upstream):
    upstream.mode = "ok"
    raw = client.chat.completions.with_raw_response.create(
        model="remote", messages=[{"role": "user", "content": f"Please email {EMAIL} the figures"}], max_tokens=20)
    sent = json.dumps(upstream.bodies[-1])
    assert EMAIL not in sent and "[EMAIL_1]" in sent
    assert EMAIL in raw.parse().choices[0].message.content  # the echo came back re-personalised
    assert raw.headers["x-slmkit-tier"] == "remote"


def test_remote_failures_fall_back_and_the_breaker_opens_then_closes(client, upstream, server):
    upstream.mode = "error"
    tiers = []
    for _ in range(3):
        raw = client.chat.completions.with_raw_response.create(
            model="remote", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
        tiers.append((raw.headers["x-slmkit-tier"], raw.headers.get("x-slmkit-fallback", "")))
    assert all(tier == "small" for tier, _ in tiers)
    assert "HTTP 500" in tiers[0][1] and "circuit open" in tiers[2][1]
    metrics = httpx.get(server["base"] + "/metrics").text
    assert 'slmkit_breaker_open{backend="' + upstream.url + '/chat/completions"} 1' in metrics
    upstream.mode = "ok"
    from slmkit.router.resilience import all_breakers

    all_breakers()[upstream.url + "/chat/completions"].cooldown_s = 0.0  # skip the wait: the trial goes now
    raw = client.chat.completions.with_raw_response.create(
        model="remote", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert raw.headers["x-slmkit-tier"] == "remote"
    assert 'slmkit_breaker_open{backend="' + upstream.url + '/chat/completions"} 0' in \
        httpx.get(server["base"] + "/metrics").text


@pytest.mark.parametrize(("mode", "says"), [("hang", "within 1 s"), ("garbage", "not a chat completion")])
def test_timeouts_and_garbage_fall_back_marked(client, upstream, mode, says):
    from slmkit.router.resilience import all_breakers

    for breaker in all_breakers().values():
        breaker.success()  # start closed, whatever earlier tests did
    upstream.mode = mode
    raw = client.chat.completions.with_raw_response.create(
        model="remote", messages=[{"role": "user", "content": "hi"}], max_tokens=4)
    assert raw.headers["x-slmkit-tier"] == "small" and says in raw.headers["x-slmkit-fallback"]
    upstream.mode = "ok"


def test_stream_cut_mid_answer_ends_in_an_openai_error_and_is_logged(client, upstream, server):
    from slmkit.router.resilience import all_breakers

    for breaker in all_breakers().values():
        breaker.success()
    upstream.mode = "cut"
    got = []
    with pytest.raises(openai.APIError, match="stopped in the middle"):
        for chunk in client.chat.completions.create(model="remote", stream=True, max_tokens=20,
                                                    messages=[{"role": "user", "content": "one two three four"}]):
            got.append(chunk)
    assert got  # the pieces before the cut did arrive
    upstream.mode = "ok"
    store = server["app"].state.gateway.store
    deadline = time.time() + 10  # the server finishes its side of the stream after the client gave up
    while not any(r["status"] == 502 and "stopped in the middle" in (r["error"] or "") for r in store.requests(50)):
        assert time.time() < deadline, "the cut stream never reached the request log"
        time.sleep(0.2)


def test_request_log_keeps_content_redacted(client, server):
    client.chat.completions.create(model="small", max_tokens=4,
                                   messages=[{"role": "user", "content": f"My address is {EMAIL}, say ok"}])
    rows = server["app"].state.gateway.store.requests(20)
    contents = [r["content"] or "" for r in rows]
    assert any("[EMAIL_1]" in c for c in contents) and not any(EMAIL in c for c in contents)
    # Nor anywhere else in the row: the decision record keeps what the guard changed, not the text it let through.
    assert EMAIL not in json.dumps(rows)
    metrics = httpx.get(server["base"] + "/metrics").text
    assert "slmkit_requests_total{" in metrics and "slmkit_request_duration_seconds_bucket" in metrics


def test_keys_rate_limits_budget_and_revocation(server):
    store = server["app"].state.gateway.store
    key, secret = store.create_key("ci", rpm=2)
    server["app"].state.gateway._keys_cache = (0.0, 0)  # take effect now, not in 2 s
    base = server["base"]
    assert httpx.get(base + "/v1/models").status_code == 401
    headers = {"Authorization": f"Bearer {secret}"}
    assert [httpx.get(base + "/v1/models", headers=headers).status_code for _ in range(3)] == [200, 200, 429]
    store.revoke_key(key.id)
    assert all(k.revoked for k in store.list_keys())
    # Revoking the last key does not open the server (tests/test_gateway_hardening.py); this module's
    # later tests run without keys, so the server is opened explicitly as `slmkit serve --no-auth` would.
    gateway = server["app"].state.gateway
    gateway.settings = gateway.settings.model_copy(
        update={"gateway": gateway.settings.gateway.model_copy(update={"auth": "off"})})
    assert httpx.get(base + "/healthz").status_code == 200
    assert httpx.get(base + "/v1/models").status_code == 200


def test_openapi_schema_covers_every_endpoint(server):
    spec = httpx.get(server["base"] + "/openapi.json").json()
    assert {"/v1/chat/completions", "/v1/embeddings", "/v1/models", "/v1/moderations", "/v1/skills/{name}",
            "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    skills = spec["paths"]["/v1/skills/{name}"]["post"]["parameters"][0]["schema"]
    assert "sentiment" in json.dumps(skills)


# -- the chat path: tools, sampling, usage, refusals ------------------------------------------------------
WEATHER = {"type": "function", "function": {
    "name": "get_weather", "description": "The current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
ASK_WEATHER = [{"role": "user", "content": "What is the weather in Paris?"}]


def test_tool_calls_whole_streamed_and_their_results_taken_back(client):
    chat = client.chat.completions.create(model="small", max_tokens=30, tools=[WEATHER], tool_choice="required",
                                          messages=ASK_WEATHER)
    choice = chat.choices[0]
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    call = choice.message.tool_calls[0]
    assert call.id and call.function.name == "get_weather"
    assert isinstance(json.loads(call.function.arguments)["city"], str)  # the grammar follows the parameters
    chunks = list(client.chat.completions.create(
        model="small", max_tokens=30, tools=[WEATHER], stream=True, messages=ASK_WEATHER,
        tool_choice={"type": "function", "function": {"name": "get_weather"}}))
    pieces = [tc for c in chunks if c.choices for tc in c.choices[0].delta.tool_calls or []]
    assert pieces[0].id and pieces[0].function.name == "get_weather" and len(pieces) > 2
    assert isinstance(json.loads("".join(p.function.arguments or "" for p in pieces))["city"], str)
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["tool_calls"]
    # The next turn carries the assistant's call (content null) and the tool's result: answered, not a 400.
    follow = client.chat.completions.create(model="small", max_tokens=6, tools=[WEATHER], messages=[
        *ASK_WEATHER, {"role": "assistant", "content": None, "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "18 C and sunny"}])
    assert follow.choices[0].message.content or follow.choices[0].message.tool_calls


def test_stop_seed_and_temperature_reach_the_local_model(client):
    ask = {"model": "small", "max_tokens": 16,
           "messages": [{"role": "user", "content": "Count from one to ten in words, separated by commas."}]}
    plain = client.chat.completions.create(**ask).choices[0].message.content
    marker = plain[len(plain) // 2:][:2]  # greedy: the same answer again, cut where this first appears
    cut = client.chat.completions.create(**ask, stop=["never-said", marker]).choices[0]
    assert cut.finish_reason == "stop" and cut.message.content == plain[:plain.index(marker)]
    hot = {**ask, "temperature": 1.5, "top_p": 1.0}
    same = {client.chat.completions.create(**hot, seed=7).choices[0].message.content for _ in range(2)}
    others = {client.chat.completions.create(**hot, seed=s).choices[0].message.content for s in (8, 9)}
    assert len(same) == 1 and others - same  # one seed, one answer; other seeds, other samples


def test_sampling_and_tools_reach_a_remote_tier(client, upstream):
    from slmkit.router.resilience import all_breakers

    for breaker in all_breakers().values():
        breaker.success()
    upstream.mode = "ok"
    client.chat.completions.create(model="remote", max_tokens=5, temperature=0.7, top_p=0.9, seed=7, stop=["END"],
                                   tools=[WEATHER], tool_choice="auto", messages=ASK_WEATHER)
    sent = upstream.bodies[-1]
    assert (sent["temperature"], sent["top_p"], sent["seed"], sent["stop"]) == (0.7, 0.9, 7, ["END"])
    assert sent["tools"][0]["function"]["name"] == "get_weather" and sent["tool_choice"] == "auto"


def test_streamed_usage_matches_and_a_pinned_stream_reports_cost_and_latency(client):
    poem = [{"role": "user", "content": "Write a long poem about the sea."}]  # longer than max_tokens: both cut
    ask = {"model": "small", "max_tokens": 8, "messages": poem}
    whole = client.chat.completions.create(**ask)
    chunks = list(client.chat.completions.create(**ask, stream=True, stream_options={"include_usage": True}))
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens) == (whole.usage.prompt_tokens, whole.usage.completion_tokens)
    routing = chunks[-1].model_extra["slmkit"]
    assert routing["cost_usd"] > 0 and routing["latency_ms"] > 0 and routing["reason"] == "the request named tier small"


def test_fields_that_cannot_be_honoured_are_refused_by_name(client):
    hi = [{"role": "user", "content": "hi"}]
    for field, value in (("n", 2), ("logprobs", True)):
        with pytest.raises(openai.BadRequestError) as refused:
            client.chat.completions.create(model="small", max_tokens=2, messages=hi, **{field: value})
        assert refused.value.body["param"] == field and field in refused.value.body["message"]
    assert client.chat.completions.create(model="small", max_tokens=2, messages=hi, n=1, logprobs=False).choices
    image = [{"role": "user", "content": [{"type": "text", "text": "What is in this picture?"},
                                          {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]
    with pytest.raises(openai.BadRequestError, match="image content is not supported by this gateway's models"):
        client.chat.completions.create(model="small", max_tokens=2, messages=image)


def test_a_streamed_remote_answer_comes_back_personal_as_it_streams(client, upstream):
    from slmkit.router.resilience import all_breakers

    for breaker in all_breakers().values():
        breaker.success()
    upstream.mode = "ok"
    chunks = list(client.chat.completions.create(
        model="remote", max_tokens=20, stream=True,
        messages=[{"role": "user", "content": f"Please email {EMAIL} the figures"}]))
    assert EMAIL not in json.dumps(upstream.bodies[-1]) and "[EMAIL_1]" in json.dumps(upstream.bodies[-1])
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert EMAIL in "".join(pieces) and len(pieces) > 2  # restored word by word, not held to the end
    assert chunks[-1].model_extra["slmkit"]["cost_usd"] > 0


def test_an_extraction_the_model_cannot_satisfy_is_a_422_not_a_500(server, monkeypatch):
    from slmkit.skills.extract import ExtractionError

    def fails(self, *args, **kwargs):  # the fault injected: the generator never met the schema
        raise ExtractionError("no schema-valid answer after 3 attempt(s); last problem: missing 'city'")

    monkeypatch.setattr("slmkit.api.SLM.extract", fails)
    r = httpx.post(f"{server['base']}/v1/skills/extract",
                   json={"input": "Ada lives in London", "schema": {"type": "object", "properties": {"city": {"type": "string"}}}})
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "extraction_failed" and "simpler schema" in r.json()["error"]["message"]


def test_the_log_keeps_what_the_guard_changed_never_the_text_it_let_through(tmp_path):
    # The guard's result carries the text it allowed out (redacted by the guard's own policy, which may
    # leave types the log's filter masks, and kept even where the log withholds content).
    from slmkit.gateway.store import GatewayStore

    store = GatewayStore(tmp_path / "gateway.sqlite", keep_content=False)
    guard = {"text": f"write to {EMAIL}", "allowed": True, "destination": "remote",
             "changes": [{"kind": "flag", "reason": "e-mail address kept: not in pii_types", "type": "EMAIL"}]}
    store.log(request_id="r1", ts=1.0, endpoint="/v1/chat/completions", status=200, content=f"write to {EMAIL}",
              decision={"tier": "remote", "strategy": "pinned", "guard": guard})
    (row,) = store.requests(5)
    assert EMAIL not in json.dumps(row) and row["content"] is None
    kept = json.loads(row["decision"])["guard"]
    assert "text" not in kept and kept["changes"][0]["type"] == "EMAIL" and kept["destination"] == "remote"
    store.close()
