"""`slmkit eval sentiment`: the three-way head against VADER, in and off its training distribution.

In distribution (held-out parts of what the head trains on):
  Pang & Lee held-out 20 %            polarity accuracy (positive vs negative, neutral set aside)
  its sentences with a negation       the same, on the natural negation subset
  generated negation set              sentences with a negation from words, nouns and frames never trained on
  blind negation set                  260 review sentences with a negation, written by hand without sight of the
                                      skill or its other sets (``datasets.negation_blind``): measured, never chosen on
  SQuAD sentences, held-out articles  how many are called neutral; how many get a side at >= 0.9
Off distribution (never trained on):
  CoNLL-2003 news sentences           how many are called neutral
  MultiEmo English review sentences   three-way accuracy, macro-F1, polarity accuracy, neutral P/R

Neutral precision is measured on the mix a caller meets: factual sentences (SQuAD, held-out articles)
among polar ones (Pang & Lee held-out and the negation set); AUROC says how well P(neutral)
separates neutral from polar text, whatever the threshold.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from slmkit.datasets import LabelledText, pang_lee, stratified_split
from slmkit.datasets.offdomain import multiemo

Progress = Callable[[int], None]
STEPS = 2


@dataclass
class Scores:
    method: str
    polar_accuracy: float  # Pang & Lee held-out
    polar_negated_accuracy: float  # its sentences with a negation
    polar_called_neutral: float  # share of Pang & Lee held-out sentences the skill calls neutral
    negation_accuracy: float  # the generated negation set
    negation_blind_accuracy: float  # the hand-written blind negation set
    factual_neutral: float  # SQuAD held-out sentences called neutral
    factual_confident_polar: float  # ... given a side at >= 0.9 confidence
    neutral_precision: float  # factual among everything called neutral (factual + polar + negation sets)
    neutral_auroc: float  # P(neutral): factual vs polar (Pang & Lee held-out)
    news_neutral: float  # off distribution: CoNLL-2003 sentences called neutral
    multiemo_accuracy: float  # off distribution, three-way
    multiemo_macro_f1: float
    multiemo_polar_accuracy: float  # positive vs negative rows only
    multiemo_neutral_precision: float
    multiemo_neutral_recall: float
    multiemo_neutral_auroc: float


@dataclass
class SentimentSets:
    polar: list[LabelledText]
    negation: list[LabelledText]
    negation_blind: list[LabelledText]
    factual: list[LabelledText]
    news: list[LabelledText]
    multiemo: list[LabelledText]

    @property
    def sizes(self) -> dict[str, int]:
        return {k: len(v) for k, v in asdict(self).items()}


def load_sets(multiemo_n: int = 1500) -> SentimentSets:
    from slmkit.datasets.negation_blind import NEGATION_BLIND
    from slmkit.skills.sentiment.data import (POLAR_TEST_FRACTION, negation_test, neutral_test,
                                               news_sentences)

    blind = [LabelledText(text, label) for text, label in NEGATION_BLIND]
    return SentimentSets(stratified_split(pang_lee(), POLAR_TEST_FRACTION).test, negation_test(), blind,
                         neutral_test(), news_sentences(), multiemo(multiemo_n))


def _auroc(positive: Sequence[float], negative: Sequence[float]) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score([1] * len(positive) + [0] * len(negative), [*positive, *negative]))


def score(skill: Any, sets: SentimentSets) -> Scores:
    """One skill (``Sentiment``) on every set."""
    from sklearn.metrics import f1_score

    from slmkit.skills.sentiment.features import has_negation

    def run(rows: Sequence[LabelledText]) -> list[Any]:
        return skill([r.text for r in rows]) if rows else []

    polar, negation, blind, factual, news, memo = (run(s) for s in (sets.polar, sets.negation, sets.negation_blind,
                                                                   sets.factual, sets.news, sets.multiemo))

    def accuracy(results: Sequence[Any], rows: Sequence[LabelledText]) -> float:
        return sum(r.label == g.label for r, g in zip(results, rows, strict=True)) / max(1, len(rows))

    negated = [(r, g) for r, g in zip(polar, sets.polar, strict=True) if has_negation(g.text)]
    called = [r.outcome == "neutral" for r in [*factual, *polar, *negation]]
    truly = [True] * len(factual) + [False] * (len(polar) + len(negation))
    hits = sum(c and t for c, t in zip(called, truly, strict=True))
    gold = [g.label for g in sets.multiemo]
    outcome = [r.outcome for r in memo]
    polar_rows = [(r, g) for r, g in zip(memo, gold, strict=True) if g != "neutral"]
    memo_called = [o == "neutral" for o in outcome]
    return Scores(
        skill.method,
        accuracy(polar, sets.polar),
        sum(r.label == g.label for r, g in negated) / max(1, len(negated)),
        sum(r.outcome == "neutral" for r in polar) / max(1, len(polar)),
        accuracy(negation, sets.negation),
        accuracy(blind, sets.negation_blind),
        sum(r.outcome == "neutral" for r in factual) / max(1, len(factual)),
        sum(r.outcome != "neutral" and r.score >= 0.9 for r in factual) / max(1, len(factual)),
        hits / max(1, sum(called)),
        _auroc([r.neutral for r in factual], [r.neutral for r in polar]),
        sum(r.outcome == "neutral" for r in news) / max(1, len(news)),
        sum(o == g for o, g in zip(outcome, gold, strict=True)) / max(1, len(gold)),
        float(f1_score(gold, outcome, average="macro")),
        sum(r.label == g for r, g in polar_rows) / max(1, len(polar_rows)),
        sum(c and g == "neutral" for c, g in zip(memo_called, gold, strict=True)) / max(1, sum(memo_called)),
        sum(c and g == "neutral" for c, g in zip(memo_called, gold, strict=True)) / max(1, gold.count("neutral")),
        _auroc([r.neutral for r, g in zip(memo, gold, strict=True) if g == "neutral"],
               [r.neutral for r, g in zip(memo, gold, strict=True) if g != "neutral"]),
    )


def eval_sentiment(model: str | None = None, progress: Progress | None = None) -> dict[str, Any]:
    from slmkit.skills.sentiment import Sentiment

    sets = load_sets()
    rows = []
    for skill in (Sentiment("head", model), Sentiment("vader")):
        rows.append(asdict(score(skill, sets)))
        if progress:
            progress(1)
    return {"skill": "sentiment", "sets": sets.sizes, "scores": rows}


LABELS = {
    "polar_accuracy": "Pang & Lee held-out: polarity accuracy",
    "polar_negated_accuracy": "  its sentences with a negation",
    "polar_called_neutral": "  share called neutral",
    "negation_accuracy": "negation set (held-out words, frames)",
    "negation_blind_accuracy": "negation set, blind (hand-written, 260)",
    "factual_neutral": "SQuAD held-out sentences called neutral",
    "factual_confident_polar": "  given a side at >= 0.9",
    "neutral_precision": "neutral precision (factual among polar)",
    "neutral_auroc": "P(neutral) AUROC, factual vs polar",
    "news_neutral": "OFF: CoNLL news sentences called neutral",
    "multiemo_accuracy": "OFF: MultiEmo 3-way accuracy",
    "multiemo_macro_f1": "OFF: MultiEmo 3-way macro-F1",
    "multiemo_polar_accuracy": "OFF: MultiEmo polarity accuracy",
    "multiemo_neutral_precision": "OFF: MultiEmo neutral precision",
    "multiemo_neutral_recall": "OFF: MultiEmo neutral recall",
    "multiemo_neutral_auroc": "OFF: MultiEmo P(neutral) AUROC",
}


def print_report(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    sizes = ", ".join(f"{k} {v}" for k, v in report["sets"].items())
    table = Table(title=f"sentiment: trained head vs VADER ({sizes})")
    table.add_column("measure")
    for row in report["scores"]:
        table.add_column(row["method"], justify="right")
    for key, label in LABELS.items():
        table.add_row(label, *(f"{row[key]:.3f}" for row in report["scores"]))
    console.print(table)
