"""Distillation through the gateway: the teacher tier's answers are captured, a task is found and
trained, its student is promoted and then answers in the teacher's words (whole and streamed), every
decision names the task and student, ``/v1/distill`` operates it, ``/metrics`` reports it, and a
demotion hands the task back to the teacher.

The teacher is a remote tier on loopback answering with the data set's gold label: the simulated
"gold" large tier of ``slmkit bench distill``, served over HTTP so the gateway's real client path runs.
The students, the encoder and the PII model are the real ones."""

from __future__ import annotations

import json
import threading

import httpx
import openai
import pytest

from conftest import serve_app
from slmkit.bench.distill import INTENTS, build_stream
from slmkit.config import Settings
from slmkit.config.distill import DistillSettings
from slmkit.config.guard import GuardPolicy
from slmkit.config.router import RouterSettings, TierConfig
from upstream import Upstream

STREAM = build_stream({"intent": 190}, seed=11)


@pytest.fixture(scope="module")
def teacher():
    gold = Upstream("ok", answers={item.messages[-1]["content"]: item.gold for item in STREAM})
    yield gold
    gold.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory, teacher):
    from slmkit.gateway.app import create_app

    tiers = {"small": TierConfig(model="smollm2-135m"),
             "teacher": TierConfig(kind="remote", model="gold", base_url=teacher.url, timeout_s=5.0, retries=0,
                                   price_in_per_1k=0.0025, price_out_per_1k=0.01)}
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("distill-gateway"),
        router=RouterSettings(tiers=tiers, strategy="large", large_tier="teacher"),
        guard=GuardPolicy(redact="off", moderation="off", injection="off", unredacted_pii_remote="allow"),
        distill=DistillSettings(min_train_examples=50, maintain_every=25, min_shadow=20, agreement_target=0.85,
                                sample_rate=0.1))
    app = create_app(settings, warm=False)
    with serve_app(app) as base:
        yield {"base": base, "app": app, "distiller": app.state.gateway.router.distiller}


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server["base"] + "/v1", api_key="unused-on-loopback", max_retries=0)


def _ask(client, item, **kw):
    return client.chat.completions.with_raw_response.create(model="auto", messages=item.messages, max_tokens=8, **kw)


@pytest.fixture(scope="module")
def learned(client, server, teacher):
    """170 intent requests through the gateway, one at a time: (tier of each answer, the student-served ones)."""
    distiller = server["distiller"]
    tiers, served = [], []
    for item in STREAM[:170]:
        raw = _ask(client, item)
        tiers.append(raw.headers["x-slmkit-tier"])
        if raw.headers["x-slmkit-tier"] == "student":
            served.append((item, raw))
        distiller.flush()  # the bookkeeping of each request lands before the next
    return tiers, served


def test_teacher_traffic_is_learned_and_the_promoted_student_answers(client, server, teacher, learned):
    distiller = server["distiller"]
    tiers, served = learned
    assert tiers[0] == "teacher"
    assert served, f"no request was served by a student: {[t.to_dict() for t in distiller.status()]}"
    task = next(t for t in distiller.status() if t.status == "promoted")
    assert len(teacher.bodies) < 170  # the student's requests never reached the teacher (sampled checks aside)
    for item, raw in served:
        body = raw.parse()
        assert body.choices[0].message.content in INTENTS.values()  # the teacher's own wording
        info = body.model_extra["slmkit"]
        assert info["task"] == task.task_id and info["student"].startswith(("head", "lexical", "zero-shot"))
        assert info["reason"].startswith(f"distill: task {task.task_id} student ")
        assert raw.headers["x-slmkit-task"] == task.task_id
    agreement = sum(raw.parse().choices[0].message.content == item.gold for item, raw in served) / len(served)
    assert agreement >= 0.85, agreement

    # Streamed: the same student answers in pieces.
    item = STREAM[170]
    pieces = list(client.chat.completions.create(model="auto", messages=item.messages, max_tokens=8, stream=True))
    text = "".join(p.choices[0].delta.content or "" for p in pieces if p.choices)
    assert text in INTENTS.values()

    # The request log's decision records name the task and the student.
    store = server["app"].state.gateway.store
    store.flush()
    decisions = [json.loads(r["decision"]) for r in store.requests(limit=400) if r.get("decision")]
    assert any(d.get("task") == task.task_id and d.get("student") and d["tier"] == "student" for d in decisions)


def test_training_over_http_is_queued_and_its_outcome_logged(server, learned):
    """POST .../train answers 202 at once (a fine-tuned candidate takes minutes); the task shows
    training until the run ends, a second request meanwhile is refused, and the outcome is in the log."""
    base, distiller = server["base"], server["distiller"]
    task_id = next(t.task_id for t in distiller.status() if t.kind == "closed")

    def task() -> dict:
        return next(t for t in httpx.get(base + "/v1/distill/tasks").json()["data"] if t["task_id"] == task_id)

    trained_before = sum(e.action == "trained" for e in distiller.events(task_id, 1000))
    release = threading.Event()
    distiller._background.submit(lambda: release.wait(60))  # fault injection: the worker is busy with a slow run
    try:
        queued = httpx.post(base + f"/v1/distill/tasks/{task_id}/train", timeout=10)
        assert queued.status_code == 202, queued.text
        assert queued.json()["status"] == "queued" and queued.json()["task_id"] == task_id
        assert task()["training"] is True
        again = httpx.post(base + f"/v1/distill/tasks/{task_id}/train", timeout=10)
        assert again.status_code == 409 and again.json()["error"]["code"] == "already_training"
        waiting = httpx.post(base + f"/v1/distill/tasks/{task_id}/train", params={"wait": "true"}, timeout=10)
        assert waiting.status_code == 409  # not a second run beside the queued one
    finally:
        release.set()
    distiller.flush()
    assert task()["training"] is False
    events = httpx.get(base + "/v1/distill/events", params={"task_id": task_id, "limit": 1000}).json()["data"]
    assert sum(e["action"] == "trained" for e in events) == trained_before + 1

    waited = httpx.post(base + f"/v1/distill/tasks/{task_id}/train", params={"wait": "true"}, timeout=300)
    assert waited.status_code == 200 and waited.json()["reason"] and waited.json()["candidates"]


def test_distill_endpoints_and_metrics(client, server, learned):
    base = server["base"]
    tasks = httpx.get(base + "/v1/distill/tasks").json()["data"]
    promoted = next(t for t in tasks if t["status"] == "promoted")
    metrics = httpx.get(base + "/metrics").text
    assert f'slmkit_distill_task_status{{student="{promoted["student"]}",task="{promoted["task_id"]}"}} 2' in metrics
    assert f'slmkit_distill_served_share{{student="{promoted["student"]}",task="{promoted["task_id"]}"}}' in metrics
    assert httpx.get(base + "/v1/distill/events", params={"task_id": promoted["task_id"]}).json()["data"]

    missing = httpx.post(base + "/v1/distill/tasks/t-nope/promote")
    assert missing.status_code == 404 and "unknown distillation task" in missing.json()["error"]["message"]
    assert httpx.post(base + "/v1/distill/tasks/..%2Fetc/train").status_code in (400, 404)
    assert httpx.post(base + f"/v1/distill/tasks/{promoted['task_id']}/demote", json={"reason": ""}).status_code == 400

    demoted = httpx.post(base + f"/v1/distill/tasks/{promoted['task_id']}/demote", json={"reason": "audit"})
    assert demoted.status_code == 200 and demoted.json()["action"] == "demote"
    raw = _ask(client, STREAM[180])
    assert raw.headers["x-slmkit-tier"] == "teacher"  # demoted: the teacher answers again
    after = next(t for t in httpx.get(base + "/v1/distill/tasks").json()["data"] if t["task_id"] == promoted["task_id"])
    assert after["status"] == "collecting" and "audit" in after["reason"]
    # What training would refuse is refused before it is queued: a demotion keeps no examples from before it.
    refused = httpx.post(base + f"/v1/distill/tasks/{promoted['task_id']}/train")
    assert refused.status_code == 400 and "usable examples" in refused.json()["error"]["message"]


def test_capture_through_the_gateway_keeps_no_personal_value(client, server):
    from slmkit.datasets.pii import generate

    distiller = server["distiller"]
    before = distiller.store.last_id()
    sentences = generate(12, seed=41)
    for s in sentences:
        client.chat.completions.create(model="auto", max_tokens=8, messages=[
            {"role": "system", "content": "Summarise the ticket in one line."}, {"role": "user", "content": s.text}])
    distiller.flush()
    rows = distiller.store.rows(since_id=before)
    assert len(rows) == len(sentences)
    stored = "\n".join(json.dumps(c.messages, ensure_ascii=False) + c.answer for c in rows)
    values = [g.value for s in sentences for g in s.spans
              if g.type in ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "SSN", "PERSON")]
    assert values and not [v for v in values if v in stored]
