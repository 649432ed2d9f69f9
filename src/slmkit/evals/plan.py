"""``slmkit eval plan``: how well each planner tier picks tools, on a fixture of multi-step requests.

For every request the planner's tool set (the distinct tools of the accepted plan) is compared
with the fixture's expected set: micro precision/recall/F1 over all requests, and the share of
requests whose set matches exactly. Validity is reported three ways: the plan as first written,
after repair and re-planning on the same tier, and overall (a request nobody could plan becomes a
one-step ``generate`` plan, counted here as a failure of the planner, not hidden).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from slmkit.errors import InvalidInputError


@dataclass
class Case:
    request: str
    tools: list[str]


@dataclass
class PlannerScore:
    planner: str
    requests: int = 0
    valid_first: int = 0  # the first plan written passed validation untouched
    valid_after_repair: int = 0  # accepted from this tier (repaired and/or re-planned)
    fallbacks: int = 0  # no valid plan from this tier: ran as one generate step
    exact: int = 0  # predicted tool set == expected
    tp: int = 0
    fp: int = 0
    fn: int = 0
    seconds: float = 0.0
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def summary(self) -> dict[str, Any]:
        n = max(self.requests, 1)
        return {"planner": self.planner, "requests": self.requests, "tool_precision": round(self.precision, 3),
                "tool_recall": round(self.recall, 3), "tool_f1": round(self.f1, 3),
                "exact_tool_set": round(self.exact / n, 3), "valid_as_written": round(self.valid_first / n, 3),
                "valid_after_repair": round(self.valid_after_repair / n, 3),
                "fallback_plans": self.fallbacks, "total_seconds": round(self.seconds, 1),
                "seconds_per_request": round(self.seconds / n, 2)}


def load_collections(path: Path) -> list[str]:
    """The document collections the fixture's installation is described as having."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    names = data.get("collections", []) if isinstance(data, dict) else []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise InvalidInputError(f"{path}: 'collections' must be a list of names")
    return names


def load_cases(path: Path) -> list[Case]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"cannot read the fixture {path}: {exc.strerror}") from None
    rows = data.get("requests") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise InvalidInputError(f"{path}: expected a mapping with a non-empty 'requests' list")
    cases = []
    for n, row in enumerate(rows, 1):
        if not isinstance(row, dict) or not isinstance(row.get("request"), str) or not row.get("tools"):
            raise InvalidInputError(f"{path}: request {n} needs 'request' (text) and 'tools' (a list)")
        cases.append(Case(row["request"], [str(t) for t in row["tools"]]))
    return cases


def evaluate(orchestrator: Any, cases: Sequence[Case], planners: Sequence[str] = ("small", "large"),
             progress: Callable[[int], None] | None = None) -> list[PlannerScore]:
    unknown = sorted({t for c in cases for t in c.tools} - set(orchestrator.registry.names()))
    if unknown:
        raise InvalidInputError(f"the fixture expects tools that are not registered: {unknown}")
    scores = []
    for planner in planners:
        score = PlannerScore(planner)
        for case in cases:
            started = time.perf_counter()
            plan, planning = orchestrator.plan(case.request, planner)
            seconds = time.perf_counter() - started
            predicted = set() if planning.planner == "fallback" else set(plan.tools())
            expected = set(case.tools)
            score.requests += 1
            score.seconds += seconds
            score.valid_first += bool(planning.attempts and planning.attempts[0].valid_as_written)
            score.valid_after_repair += planning.planner != "fallback"
            score.fallbacks += planning.planner == "fallback"
            score.exact += predicted == expected
            score.tp += len(predicted & expected)
            score.fp += len(predicted - expected)
            score.fn += len(expected - predicted)
            score.rows.append({"request": case.request, "expected": sorted(expected), "predicted": sorted(predicted),
                               "seconds": round(seconds, 2), "planning": planning.to_dict(),
                               "plan": plan.to_dict()})
            if progress is not None:
                progress(1)
        scores.append(score)
    return scores


def write_report(scores: Sequence[PlannerScore], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": [s.summary() for s in scores],
                               "requests": {s.planner: s.rows for s in scores}}, indent=2, ensure_ascii=False))


def print_report(scores: Sequence[PlannerScore], console: Any) -> None:
    from rich.table import Table

    table = Table(title="planner tool selection")
    cols = ["planner", "requests", "tool_precision", "tool_recall", "tool_f1", "exact_tool_set", "valid_as_written",
            "valid_after_repair", "fallback_plans", "total_seconds", "seconds_per_request"]
    for c in cols:
        table.add_column(c.replace("_", " "), justify="left" if c == "planner" else "right")
    for s in scores:
        row = s.summary()
        table.add_row(*[str(row[c]) for c in cols])
    console.print(table)


def plot_report(scores: Sequence[PlannerScore], path: Path) -> Path:
    """Tool precision, recall and F1 per planner next to seconds per request: quality against cost."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    metrics = ("precision", "recall", "f1")
    width = 0.8 / max(len(scores), 1)
    for i, s in enumerate(scores):
        left.bar([m + i * width for m in range(len(metrics))], [s.precision, s.recall, s.f1], width,
                 label=s.planner)
    left.set_xticks([m + width * (len(scores) - 1) / 2 for m in range(len(metrics))], [f"tool {m}" for m in metrics])
    left.set_ylim(0, 1)
    left.legend(loc="lower right")
    right.barh([s.planner for s in scores], [s.seconds / max(s.requests, 1) for s in scores])
    right.set_xlabel("seconds to plan one request")
    fig.suptitle(f"planner tool selection on {scores[0].requests if scores else 0} requests")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


__all__ = ["Case", "PlannerScore", "plot_report", "evaluate", "load_cases", "print_report", "write_report"]
