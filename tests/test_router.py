"""The router on real local tiers (SmolLM2-135M as small, Qwen2.5-Coder-0.5B as large, to keep it quick),
semantic routes on the real encoder, calibration on records, and every failure path falling back."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from slmkit.errors import InvalidInputError, NotTrainedError
from slmkit.models.llama import get_generator
from slmkit.router.evaluate import curve, random_curve, threshold_for_quality, threshold_for_share
from slmkit.router.router import Router
from slmkit.router.semantic import Route, SemanticRouter
from slmkit.config.router import RouterSettings, TierConfig
from slmkit.router.tiers import TierError, sequence_confidence

HELLO = [{"role": "user", "content": "Reply with one word: hello."}]


def settings(**overrides) -> RouterSettings:
    tiers = {"small": TierConfig(model="smollm2-135m"), "large": TierConfig(model="qwen2.5-coder-0.5b")}
    tiers.update(overrides.pop("tiers", {}))
    return RouterSettings(tiers=tiers, **overrides)


# -- the generator pieces the router stands on --------------------------------------------------
def test_scored_greedy_answer_matches_plain_greedy_chat():
    tiny = get_generator("smollm2-135m").warm_up()
    plain = tiny.chat(HELLO, max_tokens=8)
    scored, logprobs = tiny.chat_scored(HELLO, max_tokens=8)
    assert scored.text == plain.text
    assert len(logprobs) == scored.completion_tokens and all(lp <= 0 for lp in logprobs)
    assert 0 < sequence_confidence(logprobs) <= 1


def test_option_logprobs_are_a_distribution_and_the_reused_cache_changes_nothing():
    tiny = get_generator("smollm2-135m").warm_up()
    first = "Question: which is a colour?\nA. red\nB. seven\nC. Paris\nD. run\nAnswer:"
    other = "Question: which is a number?\nA. red\nB. seven\nC. Paris\nD. run\nAnswer:"
    a = tiny.option_logprobs(first, [" A", " B", " C", " D"])
    tiny.option_logprobs(other, [" A", " B", " C", " D"])
    again = tiny.option_logprobs(first, [" A", " B", " C", " D"])
    assert np.isclose(np.exp(a).sum(), 1.0)
    assert np.allclose(a, again, atol=1e-4)
    with pytest.raises(InvalidInputError, match="single token"):
        tiny.option_logprobs(first, [" Alpha Beta Gamma"])


# -- routing curves ---------------------------------------------------------------------------------
def test_apgr_is_one_half_for_random_and_near_one_for_an_oracle():
    rng = np.random.default_rng(0)
    small = rng.random(400) < 0.3
    large = rng.random(400) < 0.6
    oracle = (large & ~small).astype(float)
    assert random_curve(small, large).apgr == pytest.approx(0.5)
    best = curve("oracle", oracle, small, large)
    assert best.apgr > 0.85
    assert best.share_for_gap["95%"] < 0.5
    anti = curve("anti", -oracle, small, large)
    assert anti.apgr < 0.5


def test_thresholds_hit_the_training_share_and_quality():
    rng = np.random.default_rng(1)
    scores = rng.random(1000)
    assert (scores >= threshold_for_share(scores, 0.3)).mean() == pytest.approx(0.3, abs=0.01)
    small = scores < 0.5  # the small tier fails exactly where the score is high
    large = np.ones(1000, dtype=bool)
    cut = threshold_for_quality(scores, small, large, 0.95)
    escalate = scores >= cut
    assert np.where(escalate, large, small).mean() >= 0.95
    assert escalate.mean() < 0.5


# -- semantic routes --------------------------------------------------------------------------------
ROUTES = [
    Route("weather", ["will it rain tomorrow", "what is the forecast for Paris", "how hot is it outside"],
          "skill:classify"),
    Route("music", ["play some jazz", "put on my workout playlist", "play the new album by Adele"], "tier:small"),
]


@pytest.fixture(scope="module")
def semantic() -> SemanticRouter:
    return SemanticRouter([Route(r.name, r.utterances, r.target) for r in ROUTES]).warm_up()


def test_semantic_routes_match_and_say_no_route(semantic, tmp_path):
    queries = ["is it going to snow this weekend", "play something by Miles Davis",
               "what is the capital of Peru", "how do I file my tax return"]
    labels = ["weather", "music", None, None]
    thresholds = semantic.fit(queries, labels)
    assert set(thresholds) == {"weather", "music"}
    assert semantic("will it be sunny in Rome on Friday").route == "weather"
    assert semantic("play a song by the Beatles").route == "music"
    assert semantic("how do I file my tax return").route is None
    path = tmp_path / "routes.yaml"
    semantic.to_yaml(path)
    loaded = SemanticRouter.from_yaml(path)
    assert [r.threshold for r in loaded.routes] == pytest.approx([r.threshold for r in semantic.routes], abs=1e-4)


def test_bad_routes_are_refused(tmp_path):
    with pytest.raises(InvalidInputError, match="target"):
        Route("x", ["hello"], "somewhere:else")
    with pytest.raises(InvalidInputError, match="duplicate"):
        SemanticRouter([Route("a", ["x"]), Route("a", ["y"])])
    bad = tmp_path / "bad.yaml"
    bad.write_text("routes: {oops: 1}")
    with pytest.raises(InvalidInputError, match="routes"):
        SemanticRouter.from_yaml(bad)


# -- the router on real tiers -----------------------------------------------------------------------
def test_pinned_tier_answers_and_records_cost():
    result = Router(settings()).run(HELLO, tier="small", max_tokens=8)
    d = result.decision
    assert result.answer is not None and result.answer.completion.text.strip()
    assert d.tier == "small" and d.strategy == "pinned" and d.tiers_tried == ["small"]
    assert 0 < d.cost < d.large_cost and d.saving > 0 and d.latency_ms > 0


def test_cascade_accepts_or_escalates_by_confidence():
    accept = Router(settings(cascade_threshold=0.0)).run(HELLO, strategy="cascade", max_tokens=8).decision
    assert accept.tier == "small" and not accept.escalated and accept.confidence is not None
    escalate = Router(settings(cascade_threshold=1.0)).run(HELLO, strategy="cascade", max_tokens=8).decision
    assert escalate.escalated and escalate.tier == "large" and escalate.tiers_tried == ["small", "large"]
    assert escalate.cost > accept.cost


def test_semantic_route_to_a_skill_is_returned_for_the_caller_and_to_a_tier_is_answered(semantic):
    router = Router(settings(), semantic=semantic)
    skill = router.run([{"role": "user", "content": "will it rain in Oslo tomorrow"}])
    assert skill.answer is None and skill.decision.strategy == "semantic" and skill.decision.tier == "skill:classify"
    tier = router.run([{"role": "user", "content": "play a song by the Beatles"}], max_tokens=6)
    assert tier.decision.route == "music" and tier.decision.tier == "small" and tier.answer is not None


# -- failures fall back, and say so ---------------------------------------------------------------------
def test_missing_model_falls_back_to_the_configured_tier():
    s = settings(tiers={"large": TierConfig(model="qwen-72b-not-installed")})
    result = Router(s).run(HELLO, strategy="large", max_tokens=6)
    assert result.decision.tier == "small" and "qwen-72b-not-installed" in result.decision.fallback
    cascade = Router(settings(tiers={"large": TierConfig(model="qwen-72b-not-installed")}, cascade_threshold=1.0))
    d = cascade.run(HELLO, strategy="cascade", max_tokens=6).decision
    assert d.escalated and d.tier == "small" and "not-installed" in d.fallback
    assert d.tiers_tried == ["small", "large"]  # the small answer in hand is kept, not asked for again


def test_uncalibrated_learned_router_falls_back():
    d = Router(settings()).run(HELLO, strategy="learned", max_tokens=6).decision
    assert d.tier == "small" and "route calibrate" in d.fallback


def test_the_fallback_failing_too_is_an_error_not_a_loop():
    s = settings(tiers={"small": TierConfig(model="nope-small")})
    with pytest.raises(TierError, match="nope-small"):
        Router(s).run(HELLO, strategy="small", max_tokens=6)


# -- streaming: the same decisions, the answer in pieces ----------------------------------------------
def test_a_pinned_stream_counts_and_costs_as_run_does():
    router = Router(settings())
    poem = [{"role": "user", "content": "Write a long poem about the sea."}]  # longer than max_tokens: both cut
    d, pieces = router.stream(poem, tier="small", max_tokens=8)
    deltas = list(pieces)
    whole = router.run(poem, tier="small", max_tokens=8).answer.completion
    # (Not the same text: a prompt served from the KV cache may tip a near-tie the other way.)
    assert "".join(x.text for x in deltas).strip() and deltas[-1].finish_reason == whole.finish_reason == "length"
    assert (deltas[-1].prompt_tokens, deltas[-1].completion_tokens) == (whole.prompt_tokens, whole.completion_tokens)
    assert d.tier == "small" and d.strategy == "pinned" and d.reason == "the request named tier small"
    assert 0 < d.cost < d.large_cost and d.latency_ms > 0


def test_an_escalated_cascade_streams_the_large_tier_as_it_generates():
    d, pieces = Router(settings(cascade_threshold=1.0)).stream(HELLO, strategy="cascade", max_tokens=8)
    assert d.escalated and d.tier == "large" and d.tiers_tried == ["small", "large"] and "escalated" in d.reason
    small_only = d.cost  # the small answer was read to judge it; the large one is still being generated
    assert "".join(x.text for x in pieces).strip()
    assert d.cost > small_only


def test_a_stream_falls_back_before_its_first_piece_and_a_skill_route_is_left_to_the_caller(semantic):
    s = settings(tiers={"large": TierConfig(model="qwen-72b-not-installed")})
    d, pieces = Router(s).stream(HELLO, strategy="large", max_tokens=6)
    assert d.tier == "small" and "not-installed" in d.fallback and d.tiers_tried == ["large", "small"]
    assert "".join(x.text for x in pieces).strip()
    d, pieces = Router(settings(), semantic=semantic).stream([{"role": "user", "content": "will it rain in Oslo"}])
    assert pieces is None and d.tier == "skill:classify" and d.strategy == "semantic"


def test_a_stream_closed_or_dropped_early_frees_the_local_model():
    import gc
    import time

    router = Router(settings())
    story = [{"role": "user", "content": "Write a very long story about a dragon who collects teapots."}]
    for abandon in ("close", "drop"):
        _, pieces = router.stream(story, tier="small", max_tokens=1500)
        next(pieces)
        if abandon == "close":
            pieces.close()
        else:
            del pieces
            gc.collect()
        started = time.perf_counter()
        assert router.run(HELLO, tier="small", max_tokens=4).answer is not None
        assert time.perf_counter() - started < 15  # not after the 1500 tokens nobody is reading


class _Upstream(BaseHTTPRequestHandler):
    mode = "hang"

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.mode == "hang":
            threading.Event().wait(5)
            return
        body = b"<html>not json</html>" if self.mode == "garbage" else b'{"error": "boom"}'
        self.send_response(200 if self.mode == "garbage" else 500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture
def faulty_upstream() -> Iterator:
    """A fault injector on loopback: hangs, returns garbage, or fails; never the thing under test."""
    servers = []

    def start(mode: str) -> str:
        handler = type("Handler", (_Upstream,), {"mode": mode})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/v1"

    yield start
    for server in servers:
        server.shutdown()


@pytest.mark.parametrize(("mode", "says"), [("hang", "within 0.5 s"), ("garbage", "not a chat completion"),
                                            ("error", "HTTP 500")])
def test_remote_tier_failures_fall_back(faulty_upstream, mode, says):
    url = faulty_upstream(mode)
    s = settings(tiers={"large": TierConfig(kind="remote", model="big", base_url=url, timeout_s=0.5,
                                            price_in_per_1k=0.01, price_out_per_1k=0.03)})
    d = Router(s).run(HELLO, strategy="large", max_tokens=6).decision
    assert d.tier == "small" and says in d.fallback and d.tiers_tried == ["large", "small"]


def test_unreachable_remote_is_a_fallback_too():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    s = settings(tiers={"large": TierConfig(kind="remote", model="big", base_url=f"http://127.0.0.1:{port}/v1")})
    d = Router(s).run(HELLO, strategy="large", max_tokens=6).decision
    assert d.tier == "small" and "unreachable" in d.fallback


def test_settings_refuse_unknown_tiers_and_remote_without_url():
    with pytest.raises(ValueError, match="fallback_tier"):
        RouterSettings(fallback_tier="medium")
    with pytest.raises(ValueError, match="base_url"):
        TierConfig(kind="remote", model="x")


# -- calibration learns where escalation pays --------------------------------------------------------
def test_calibration_learns_which_queries_need_the_large_tier(tmp_path):
    from slmkit.datasets.loaders import snips
    from slmkit.router import calibration

    rows = [e for e in snips() if e.label in {"get_weather", "play_music", "rate_book"}][:240]
    # The small tier fails weather questions that the large one gets right; elsewhere both succeed.
    records = [calibration.Record(e.text, e.label != "get_weather", True, 0.3 if e.label == "get_weather" else 0.8)
               for e in rows]
    path = tmp_path / "outcomes.jsonl"
    path.write_text("\n".join(json.dumps(r.__dict__) for r in records))
    result, router = calibration.calibrate(calibration.read_records(path), target_quality=0.95, source=str(path))
    p = router.needs_large(["what will the weather be in Boston tomorrow", "play a song by Nirvana"])
    assert p[0] > 0.5 > p[1]
    assert 0.3 < result.cascade_threshold <= 0.8
    calibration.save(result, router, tmp_path)
    assert calibration.load(tmp_path).learned_threshold == pytest.approx(result.learned_threshold)


def test_bad_outcome_records_name_the_line(tmp_path):
    from slmkit.router import calibration

    path = tmp_path / "bad.jsonl"
    path.write_text('{"query": "a", "small_correct": true, "large_correct": true, "small_confidence": 0.5}\n{"q": 1}\n')
    with pytest.raises(InvalidInputError, match="bad.jsonl:2"):
        calibration.read_records(path)
    with pytest.raises(InvalidInputError, match="too few"):
        calibration.calibrate([calibration.Record("a", True, True, 0.5)], target_share=0.5)
    with pytest.raises(NotTrainedError):
        calibration.load(tmp_path)


def test_breaker_opens_after_failures_lets_one_trial_through_and_closes():
    from slmkit.router.resilience import Breaker, Retryable, with_retries

    b = Breaker(failures_to_open=2, cooldown_s=0.05)
    b.failure()
    assert b.allow() and b.state == "closed"
    b.failure()
    assert b.state == "open" and not b.allow()
    import time

    time.sleep(0.06)
    assert b.allow() and b.state == "half_open" and not b.allow()  # one trial at a time
    b.failure()
    assert b.state == "open" and b.opened_count == 2
    time.sleep(0.06)
    assert b.allow()
    b.success()
    assert b.state == "closed" and b.allow()

    calls, waits = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise Retryable("refused")
        return "ok"

    assert with_retries(flaky, attempts=3, sleep=waits.append) == "ok"
    assert len(waits) == 2 and all(0 <= w <= 0.2 for w in waits)
    with pytest.raises(Retryable):
        with_retries(lambda: (_ for _ in ()).throw(Retryable("down")), attempts=2, sleep=waits.append)
