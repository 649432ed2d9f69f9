"""Semantic routing on SNIPS, ours against the `semantic-router` package with the same encoder.

Seven SNIPS intents; each fold holds one intent out of the routes, where it stands
for the queries no route should take ("no route"), and routes the other six. Route
utterances and threshold-fitting queries come from the training split; accuracy and
decision latency (one query per call, embedding included, one thread) from the test
split. The peer runs in its own virtualenv (.venv-peers) with slmkit's ONNX encoder
plugged in as its DenseEncoder.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from slmkit.datasets.loaders import snips
from slmkit.datasets.splits import stratified_split

UTTERANCES_PER_ROUTE = 20
PEER_SCRIPT = Path(__file__).parent / "baselines" / "semantic_router_peer.py"


@dataclass
class Fold:
    held_out: str
    routes: dict[str, list[str]]
    fit_x: list[str]
    fit_y: list[str | None]
    test_x: list[str]
    test_y: list[str | None]


def folds(seed: int = 13) -> list[Fold]:
    split = stratified_split(snips(), 0.3, seed)
    train: dict[str, list[str]] = defaultdict(list)
    for e in split.train:
        train[e.label].append(e.text)
    intents = sorted(train)
    out = []
    for held in intents:
        routes = {i: train[i][:UTTERANCES_PER_ROUTE] for i in intents if i != held}
        fit = [(t, i) for i in intents if i != held for t in train[i][UTTERANCES_PER_ROUTE:]]
        fit += [(t, None) for t in train[held]]
        test = [(e.text, None if e.label == held else e.label) for e in split.test]
        out.append(Fold(held, routes, [t for t, _ in fit], [y for _, y in fit],
                        [t for t, _ in test], [y for _, y in test]))
    return out


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def run_ours(fold: Fold, model: str | None) -> dict:
    from slmkit.router.semantic import Route, SemanticRouter

    router = SemanticRouter([Route(name, utts) for name, utts in fold.routes.items()], model=model, threads=1)
    router.warm_up()
    router.fit(fold.fit_x, fold.fit_y)
    router(fold.test_x[0])  # first call pays one-time session set-up
    latencies, correct = [], 0
    for text, gold in zip(fold.test_x, fold.test_y, strict=True):
        started = time.perf_counter()
        match = router(text)
        latencies.append(1000 * (time.perf_counter() - started))
        correct += match.route == gold
    return {"accuracy": correct / len(fold.test_x), "latencies_ms": latencies}


def run_peer(fold: Fold, python: str, model: str | None) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "fold.json"
        spec.write_text(json.dumps({"routes": fold.routes, "fit_x": fold.fit_x, "fit_y": fold.fit_y,
                                    "test_x": fold.test_x, "test_y": fold.test_y, "model": model}))
        done = subprocess.run([python, str(PEER_SCRIPT), str(spec)], capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"semantic-router peer failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_semantic(peer_python: str | None, model: str | None = None, progress=None) -> dict:  # noqa: ANN001
    systems: dict[str, dict] = {"slmkit": {"accuracy": [], "latencies_ms": []}}
    if peer_python:
        systems["semantic-router"] = {"accuracy": [], "latencies_ms": [], "version": None}
    per_fold = []
    for fold in folds():
        row = {"held_out": fold.held_out}
        results = {"slmkit": run_ours(fold, model)}
        if peer_python:
            results["semantic-router"] = run_peer(fold, peer_python, model)
        for name, result in results.items():
            systems[name]["accuracy"].append(result["accuracy"])
            systems[name]["latencies_ms"].extend(result["latencies_ms"])
            if "version" in result:
                systems[name]["version"] = result["version"]
            row[name] = round(result["accuracy"], 4)
        per_fold.append(row)
        if progress:
            progress(1)
    summary = {}
    for name, s in systems.items():
        lat = s["latencies_ms"]
        summary[name] = {"accuracy": statistics.mean(s["accuracy"]), "p50_ms": _percentile(lat, 0.5),
                         "p95_ms": _percentile(lat, 0.95), "decisions": len(lat),
                         **({"version": s["version"]} if s.get("version") else {})}
    return {"systems": summary, "folds": per_fold, "utterances_per_route": UTTERANCES_PER_ROUTE,
            "encoder": model or "default", "threads": 1}
