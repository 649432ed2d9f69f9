"""`slmkit bench specialists`: per-item latency (p50/p95), load time and peak RSS of each specialist,
each in a fresh process so one model's memory is not counted against another, then the whole
crew without generators loaded together in one process.

Inputs are real texts from the packaged data sets (SNIPS utterances, synthetic PII sentences,
SQuAD questions and paragraphs), one item per call: the latency a request sees.
"""

from __future__ import annotations

import json
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

ENCODER_SKILLS = ("embed", "classify", "sentiment", "langid", "rerank", "entities", "pii", "moderate")
GENERATOR_SKILLS = ("extract", "summarize")
CREW_TARGET_MB = 1024

_EXTRACT_SCHEMA = {"type": "object", "properties": {
    "name": {"type": "string"}, "email": {"type": "string"}, "city": {"type": "string"}}}


@dataclass
class SpecialistRun:
    skill: str
    items: int
    load_s: float
    p50_ms: float
    p95_ms: float
    peak_rss_mb: float


@dataclass
class SpecialistsBench:
    runs: list[SpecialistRun]
    crew: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"runs": [asdict(r) for r in self.runs], "crew": self.crew, "crew_target_mb": CREW_TARGET_MB}


def _texts(n: int) -> list[str]:
    from slmkit.datasets.loaders import snips

    return [e.text for e in snips()[:n]]


def _build(skill: str) -> tuple[Any, list[Callable[[], Any]]]:
    """The loaded skill and the calls to time (inputs prepared before the clock starts)."""
    from slmkit.api import SLM

    slm = SLM()
    if skill == "pii":
        from slmkit.datasets.pii import generate

        texts = [s.text for s in generate(200, seed=5)]
        slm.pii(texts[0])
        return slm, [lambda t=t: slm.pii(t) for t in texts]
    if skill == "rerank":
        from slmkit.datasets.loaders import squad

        paragraphs, questions = squad()
        slm.rerank(questions[0].question, paragraphs[:2])
        calls = []
        for i, q in enumerate(questions[:100:5]):
            candidates = paragraphs[max(0, q.paragraph_id - 10):q.paragraph_id + 10]
            calls.append(lambda q=q, c=candidates: slm.rerank(q.question, c))
        return slm, calls
    if skill in GENERATOR_SKILLS:
        from slmkit.datasets.loaders import squad

        paragraphs, _ = squad()
        if skill == "extract":
            notes = [f"Note from {n}: please reply to {n.split()[0].lower()}@example.org, I am based in {c}."
                     for n, c in (("Anna Berg", "Oslo"), ("Luis Ortega", "Madrid"), ("Chen Wei", "Shanghai"),
                                  ("Maria Rossi", "Turin"), ("Tom Hardy", "Leeds"))]
            slm.extract(notes[0], schema=_EXTRACT_SCHEMA)
            return slm, [lambda t=t: slm.extract(t, schema=_EXTRACT_SCHEMA) for t in notes]
        slm.summarize(paragraphs[0], max_words=30)
        return slm, [lambda t=t: slm.summarize(t, max_words=30) for t in paragraphs[1:6]]
    texts = _texts(200)
    if skill == "classify":
        from slmkit.datasets.loaders import SNIPS_DESCRIPTIONS

        slm.classify(texts[0], labels=SNIPS_DESCRIPTIONS)
        return slm, [lambda t=t: slm.classify(t, labels=SNIPS_DESCRIPTIONS) for t in texts]
    method = getattr(slm, skill)
    method(texts[0])
    return slm, [lambda t=t: method(t) for t in texts]


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(skill: str) -> dict:
    """Runs inside a fresh process: load (timed), then time each call."""
    started = time.perf_counter()
    if skill == "crew":
        # Every specialist loaded and warmed on a real input, all held at once.
        crew = [_build(name) for name in ENCODER_SKILLS]
        return {"items_held": len(crew), "skill": "crew", "skills": list(ENCODER_SKILLS), "load_s": time.perf_counter() - started,
                "peak_rss_mb": _peak_rss_mb()}
    _, calls = _build(skill)
    load_s = time.perf_counter() - started
    times = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return asdict(SpecialistRun(skill, len(times), load_s, statistics.median(times),
                                times[min(len(times) - 1, int(0.95 * len(times)))], _peak_rss_mb()))


def _fresh(skill: str) -> dict:
    result = subprocess.run([sys.executable, "-m", "slmkit.bench.specialists", skill],
                            capture_output=True, text=True)
    if result.returncode != 0:
        return {"skill": skill, "error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_specialists(generators: bool = True, progress: Callable[[int], None] | None = None) -> SpecialistsBench:
    runs = []
    crew: dict = {}
    for skill in (*ENCODER_SKILLS, *(GENERATOR_SKILLS if generators else ())):
        data = _fresh(skill)
        if "error" in data:
            raise RuntimeError(f"benchmark of {skill} failed: {data['error']}")
        runs.append(SpecialistRun(**data))
        if progress:
            progress(1)
    crew = _fresh("crew")
    if progress:
        progress(1)
    return SpecialistsBench(runs, crew)


def plot_specialists(result: SpecialistsBench, path) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r.skill for r in result.runs]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    axes[0].barh(names, [r.p50_ms for r in result.runs], label="p50")
    axes[0].barh(names, [r.p95_ms - r.p50_ms for r in result.runs], left=[r.p50_ms for r in result.runs],
                 label="p95", alpha=0.5)
    axes[0].set_xscale("log")
    axes[0].set_xlabel("ms per item (log)")
    axes[0].legend()
    axes[1].barh([*names, "crew"], [*(r.peak_rss_mb for r in result.runs), result.crew.get("peak_rss_mb", 0)])
    axes[1].axvline(CREW_TARGET_MB, color="red", linestyle="--", label="crew target")
    axes[1].set_xlabel("peak RSS, MB")
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


if __name__ == "__main__":
    print(json.dumps(worker(sys.argv[1])))
