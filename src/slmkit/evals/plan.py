"""``slmkit eval plan``: how well each planner tier picks tools, on a fixture of multi-step requests.

For every request the planner's tool set (the distinct tools of the accepted plan) is compared
with the fixture's expected set: micro precision/recall/F1 over all requests, and the share of
requests whose set matches exactly. Planning latency is reported per request (p50, p90) with the
share of asks whose tool the shortlist fixed without the generator choosing, the share whose whole step
a rule wrote, and generator calls per request (none when asks and steps are all written by rule). Each
planner tier can be run under several ``plan.tool_choice`` modes in one run (``all``, the single all-tools call, is the
baseline the per-ask modes are compared with). Validity is reported three ways: the plan as first written,
after repair and re-planning on the same tier, and overall (a request nobody could plan becomes a
one-step ``generate`` plan, counted here as a failure of the planner, not hidden).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from slmkit.config.plan import ToolChoice
from slmkit.errors import InvalidInputError

if TYPE_CHECKING:
    from slmkit.plan.runner import Orchestrator


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
    latencies: list[float] = field(default_factory=list)  # seconds per request
    generated_tokens: int = 0  # what the generator wrote, all calls: latency without the machine's load
    asks: int = 0  # asks written (per-ask modes)
    fixed_by_shortlist: int = 0  # asks whose tool the shortlist chose alone
    written_by_rule: int = 0  # asks whose step (tool and arguments) was written without the generator
    generator_calls: int = 0  # calls to a generator tier while planning, all requests
    no_call: int = 0  # requests planned without any generator call (asks and steps by rule)
    dropped_steps: int = 0  # steps removed because they served no ask
    steps_without_ask: int = 0  # steps of accepted plans that name no ask (the all-tools baseline's never do)
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
                "seconds_per_request": round(self.seconds / n, 2),
                "p50_seconds": round(_quantile(self.latencies, 0.5), 2),
                "p90_seconds": round(_quantile(self.latencies, 0.9), 2),
                "generated_tokens_per_request": round(self.generated_tokens / n, 1),
                "asks_fixed_by_shortlist": round(self.fixed_by_shortlist / self.asks, 3) if self.asks else None,
                "asks_written_by_rule": round(self.written_by_rule / self.asks, 3) if self.asks else None,
                "generator_calls_per_request": round(self.generator_calls / n, 2),
                "planned_without_generator": round(self.no_call / n, 3),
                "dropped_steps": self.dropped_steps, "steps_without_ask": self.steps_without_ask}


def _quantile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


ENCODER = "encoder"  # the planner name for tool choice by rule-split asks and the encoder alone


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


def evaluate(orchestrator: Orchestrator, cases: Sequence[Case], planners: Sequence[str] = ("small", "large"),
             progress: Callable[[int], None] | None = None,
             tool_choices: Sequence[ToolChoice | None] = (None,)) -> list[PlannerScore]:
    """Every case planned by every planner tier under every tool-choice mode (None: the configured one)."""
    unknown = sorted({t for c in cases for t in c.tools} - set(orchestrator.registry.names()))
    if unknown:
        raise InvalidInputError(f"the fixture expects tools that are not registered: {unknown}")
    scores = []
    settings = orchestrator.planner.settings
    configured = settings.tool_choice
    for planner, choice in [(p, c) for p in planners for c in tool_choices]:
        if planner == ENCODER and choice != tool_choices[0]:
            continue  # the encoder's choice does not depend on the generator's tool-choice mode
        score = PlannerScore(planner if choice is None or planner == ENCODER else f"{planner}/{choice}")
        settings.tool_choice = choice or configured
        try:
            for case in cases:
                _score_case(orchestrator, case, planner, score)
                if progress is not None:
                    progress(1)
        finally:
            settings.tool_choice = configured
        scores.append(score)
    return scores


def _score_case(orchestrator: Orchestrator, case: Case, planner: str, score: PlannerScore) -> None:
    if planner == ENCODER:
        return _score_encoder(orchestrator, case, score)
    started = time.perf_counter()
    plan, planning = orchestrator.plan(case.request, planner)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    predicted = set() if planning.planner == "fallback" else set(plan.tools())
    expected = set(case.tools)
    score.requests += 1
    score.seconds += seconds
    score.latencies.append(seconds)
    score.generated_tokens += planning.generated_tokens
    score.asks += len(planning.chosen_by)
    score.fixed_by_shortlist += planning.chosen_by.count("shortlist")
    score.written_by_rule += planning.args_by.count("rule")
    score.generator_calls += planning.generator_calls
    score.no_call += planning.generator_calls == 0 and planning.planner != "fallback"
    score.dropped_steps += sum("serves no ask" in r for r in plan.repairs)
    score.steps_without_ask += 0 if planning.planner == "fallback" else sum(s.ask is None for s in plan.steps)
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


def _score_encoder(orchestrator: Orchestrator, case: Case, score: PlannerScore) -> None:
    """No generator at all: asks split by rule, each given the shortlist's best tool. Measures how much of
    tool choice the encoder does alone (the generator is still needed for most arguments)."""
    from slmkit.plan.planner import split_asks

    started = time.perf_counter()
    shortlists = orchestrator.planner.shortlist(split_asks(case.request))
    seconds = time.perf_counter() - started
    predicted = {sl.names[0] for sl in shortlists if sl.names}
    expected = set(case.tools)
    score.requests += 1
    score.seconds += seconds
    score.latencies.append(seconds)
    score.asks += len(shortlists)
    score.fixed_by_shortlist += len(shortlists)
    score.valid_first += 1
    score.valid_after_repair += 1
    score.exact += predicted == expected
    score.tp += len(predicted & expected)
    score.fp += len(predicted - expected)
    score.fn += len(expected - predicted)
    score.rows.append({"request": case.request, "expected": sorted(expected), "predicted": sorted(predicted),
                       "seconds": round(seconds, 4), "shortlists": [sl.to_dict() for sl in shortlists]})


def write_report(scores: Sequence[PlannerScore], out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"summary": [s.summary() for s in scores],
                               "requests": {s.planner: s.rows for s in scores}}, indent=2, ensure_ascii=False))


def print_report(scores: Sequence[PlannerScore], console: Any) -> None:
    from rich.table import Table

    table = Table(title="planner tool selection")
    cols = ["planner", "requests", "tool_precision", "tool_recall", "tool_f1", "exact_tool_set", "valid_as_written",
            "valid_after_repair", "fallback_plans", "steps_without_ask", "asks_fixed_by_shortlist",
            "asks_written_by_rule", "generator_calls_per_request", "planned_without_generator", "p50_seconds",
            "p90_seconds", "generated_tokens_per_request"]
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


__all__ = ["ENCODER", "Case", "PlannerScore", "plot_report", "evaluate", "load_cases", "print_report", "write_report"]
