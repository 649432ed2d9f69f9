"""The gateway as an attacker and a careless client would try it: auth that must fail closed, URLs and
bodies chosen to break things, and OpenAI fields that frameworks send. Real server on loopback."""

from __future__ import annotations

import json

import httpx
import pytest

from conftest import serve_app
from slmkit.config import Settings
from slmkit.config.gateway import GatewaySettings
from slmkit.config.router import RouterSettings, TierConfig

EMAIL = "anna.kowalczyk@example.org"
TIERS = {"small": TierConfig(model="smollm2-135m"), "large": TierConfig(model="qwen2.5-coder-0.5b")}


def _app(data, **gateway):
    from slmkit.gateway.app import create_app

    settings = Settings(data_dir=data, router=RouterSettings(tiers=TIERS, strategy="small"),
                        gateway=GatewaySettings(**gateway))
    return create_app(settings, warm=False)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    app = _app(tmp_path_factory.mktemp("gateway-open"))
    with serve_app(app) as base:
        yield {"base": base, "app": app}


def _error(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and body["error"]["message"], body  # OpenAI-style, never {"detail": ...}
    return body["error"]


def test_revoking_the_last_key_keeps_the_server_closed(tmp_path):
    app = _app(tmp_path)
    store = app.state.gateway.store
    with serve_app(app) as base:
        assert httpx.get(base + "/v1/models").status_code == 200  # loopback, no key ever made: development
        key, secret = store.create_key("ci")
        app.state.gateway._keys_cache = (0.0, 0)  # take effect now, not in 2 s
        auth = {"Authorization": f"Bearer {secret}"}
        for path in ("/v1/models", "/metrics", "/openapi.json", "/docs"):
            _error(httpx.get(base + path), 401)
            assert httpx.get(base + path, headers=auth).status_code == 200, path
        store.revoke_key(key.id)
        app.state.gateway._keys_cache = (0.0, 0)
        for path in ("/v1/models", "/metrics", "/openapi.json"):
            _error(httpx.get(base + path), 401)
            _error(httpx.get(base + path, headers=auth), 401)
        assert httpx.get(base + "/healthz").status_code == 200
    # `slmkit serve --no-auth` (loopback only): keys exist, yet development traffic passes.
    with serve_app(_app(tmp_path, auth="off")) as base:
        assert httpx.get(base + "/v1/models").status_code == 200


def test_metric_labels_and_log_endpoints_come_from_route_templates(tmp_path):
    app = _app(tmp_path)
    app.state.gateway.store.create_key("ci")
    app.state.gateway._keys_cache = (0.0, 0)
    with serve_app(app) as base:
        for i in range(40):
            httpx.post(f"{base}/v1/workflows/probe-{i}", json={})
            httpx.get(f"{base}/random/{i}")
        store = app.state.gateway.store
        rendered = app.state.gateway.metrics.render({})
    assert "probe-" not in rendered and "/random/" not in rendered
    assert 'endpoint="/v1/workflows/{name}"' in rendered and 'endpoint="unmatched"' in rendered
    assert {r["endpoint"] for r in store.requests(200)} == {"/v1/workflows/{name}", "unmatched"}


@pytest.mark.parametrize("path,body", [
    ("/v1/chat/completions", {"model": "small", "messages": [{"role": "user", "content": "hi \ud800"}]}),
    ("/v1/embeddings", {"input": "a \ud800 b"}),
    ("/v1/moderations", {"input": ["fine", "\udfff"]}),
    ("/v1/skills/pii", {"input": "call me \ud800"}),
    ("/v1/skills/redact", {"input": "\ud800"}),
])
def test_a_lone_surrogate_is_a_400_not_a_500(server, path, body):
    raw = json.dumps(body)  # json.dumps writes the lone surrogate as the escape \ud800: valid JSON
    response = httpx.post(server["base"] + path, content=raw, headers={"content-type": "application/json"})
    assert "surrogate" in _error(response, 400)["message"]


def test_undecodable_bodies_and_unknown_paths_get_openai_errors(server):
    base = server["base"]
    deep = "[" * 5000 + "]" * 5000
    for depth_body in (deep, json.dumps({"input": json.loads("[" * 80 + "]" * 80)})):
        _error(httpx.post(base + "/v1/embeddings", content=depth_body,
                          headers={"content-type": "application/json"}), 400)
    _error(httpx.post(base + "/v1/embeddings", content=b'{"input": "\xff\xfe"}',
                      headers={"content-type": "application/json"}), 400)
    _error(httpx.get(base + "/v1/nothing-here"), 404)
    _error(httpx.delete(base + "/v1/models"), 405)
    err = _error(httpx.post(base + "/v1/workflows/nope", json={}), 404)
    assert "/" not in err["message"].split("known:")[0] and "looked in" not in err["message"]


def test_no_personal_value_or_control_character_reaches_the_log_or_metrics(server):
    base = server["base"]
    _error(httpx.post(base + "/v1/chat/completions",
                      json={"model": f"gpt\u0000-{EMAIL}", "messages": [{"role": "user", "content": "hi"}]}), 404)
    _error(httpx.get(f"{base}/v1/{EMAIL}"), 404)
    rows = server["app"].state.gateway.store.requests(50)
    stored = json.dumps(rows)
    assert EMAIL not in stored and "\\u0000" not in stored
    assert EMAIL not in server["app"].state.gateway.metrics.render({})


def test_one_long_string_is_not_a_batch_over_the_item_limit(server):
    text = "My card was charged twice this month and I would like a refund for the second charge. " * 4
    assert len(text) > 300
    # The first call may load the skill: more than httpx's default 5 s on a busy machine.
    assert httpx.post(server["base"] + "/v1/moderations", json={"input": text}, timeout=120).status_code == 200
    assert httpx.post(server["base"] + "/v1/skills/sentiment", json={"input": text * 3}, timeout=120).status_code == 200
    _error(httpx.post(server["base"] + "/v1/moderations", json={"input": ["x"] * 257}), 400)


def test_embeddings_accept_common_openai_model_names_and_refuse_other_dimensions(server):
    base = server["base"]
    for name in ("text-embedding-3-small", "text-embedding-ada-002"):
        body = httpx.post(base + "/v1/embeddings", json={"model": name, "input": ["hello"]}).json()
        assert body["model"] == "minilm-l6-int8" and len(body["data"][0]["embedding"]) == 384
    assert httpx.post(base + "/v1/embeddings", json={"input": "hi", "dimensions": 384}).status_code == 200
    err = _error(httpx.post(base + "/v1/embeddings", json={"input": "hi", "dimensions": 256}), 400)
    assert err["param"] == "dimensions"
    err = _error(httpx.post(base + "/v1/embeddings", json={"model": "qwen2.5-coder-0.5b", "input": "hi"}), 400)
    assert "minilm-l6-int8" in err["message"] and "smollm2" not in err["message"]


def test_one_model_by_id(server):
    card = httpx.get(server["base"] + "/v1/models/small").json()
    assert card["id"] == "small" and card["object"] == "model"
    assert _error(httpx.get(server["base"] + "/v1/models/no-such-model"), 404)["code"] == "model_not_found"
