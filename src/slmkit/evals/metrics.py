"""Classification metrics: accuracy, macro-F1, calibration error and the most frequent confusions."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

import numpy as np


@dataclass
class ClassificationReport:
    name: str
    n: int
    accuracy: float
    macro_f1: float
    per_label_f1: dict[str, float]
    top_confusions: list[tuple[str, str, int]]  # (gold, predicted, count)
    ece: float | None = None  # expected calibration error of the top-label probability
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def expected_calibration_error(confidence: Sequence[float], correct: Sequence[bool], bins: int = 10) -> float:
    conf = np.asarray(confidence, dtype=np.float64)
    hit = np.asarray(correct, dtype=np.float64)
    edges = np.linspace(0, 1, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        in_bin = (conf > lo) & (conf <= hi)
        if in_bin.any():
            total += in_bin.mean() * abs(conf[in_bin].mean() - hit[in_bin].mean())
    return float(total)


def classification_report(
    name: str, gold: Sequence[str], predicted: Sequence[str], confidence: Sequence[float] | None = None,
    **extra: object,
) -> ClassificationReport:
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted differ in length")
    labels = sorted(set(gold) | set(predicted))
    f1 = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        f1[label] = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    gold_labels = sorted(set(gold))
    confusions = Counter((g, p) for g, p in zip(gold, predicted, strict=True) if g != p)
    correct = [g == p for g, p in zip(gold, predicted, strict=True)]
    return ClassificationReport(
        name=name,
        n=len(gold),
        accuracy=float(np.mean(correct)) if gold else 0.0,
        macro_f1=float(np.mean([f1[label] for label in gold_labels])) if gold else 0.0,
        per_label_f1=f1,
        top_confusions=[(g, p, n) for (g, p), n in confusions.most_common(5)],
        ece=expected_calibration_error(confidence, correct) if confidence is not None else None,
        extra=dict(extra),
    )
