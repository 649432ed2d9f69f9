"""Routing strategies scored on recorded outcomes: quality against share of large-tier calls.

Every strategy is reduced to one number per question, "how much this one deserves
the large tier"; sending the top share s of questions there traces a quality curve
from always-small (s=0) to always-large (s=1). APGR, as RouteLLM defines it, is the
area under the performance-gap-recovered curve: 0.5 for random routing, 1.0 for a
router that recovers the whole gap at once. Thresholds are fitted on the training
split and applied, unchanged, to the held-out split.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from slmkit.router.outcomes import Outcome

STRATEGIES = ("always-small", "always-large", "random", "learned", "cascade", "combined")


@dataclass(frozen=True)
class Split:
    train: list[Outcome]
    test: list[Outcome]


def split_outcomes(rows: Sequence[Outcome], test_fraction: float = 0.5, seed: int = 13) -> Split:
    """Per topic, a seeded shuffle: the first ``test_fraction`` of each topic is held out."""
    by_topic: dict[str, list[Outcome]] = defaultdict(list)
    for row in rows:
        by_topic[row.topic].append(row)
    rng = random.Random(seed)
    train, test = [], []
    for topic in sorted(by_topic):
        group = sorted(by_topic[topic], key=lambda o: o.qid)
        rng.shuffle(group)
        cut = round(len(group) * test_fraction)
        test.extend(group[:cut])
        train.extend(group[cut:])
    return Split(train, test)


@dataclass(frozen=True)
class TierAnswers:
    """One tier's answers after letter-prior calibration (fitted on training rows only)."""

    probs: np.ndarray  # (n, 4), calibrated, rows sum to 1
    correct: np.ndarray  # (n,) bool

    @property
    def confidence(self) -> np.ndarray:
        return self.probs.max(axis=1)

    @property
    def margin(self) -> np.ndarray:
        top2 = np.sort(self.probs, axis=1)[:, -2:]
        return top2[:, 1] - top2[:, 0]

    @property
    def entropy(self) -> np.ndarray:
        return -(self.probs * np.log(self.probs + 1e-12)).sum(axis=1)


def letter_prior(logprobs: np.ndarray) -> np.ndarray:
    """Small models favour some letters whatever the question (B, for the 0.5B); the mean answer
    distribution over training questions estimates that bias (contextual calibration)."""
    return np.log(np.exp(logprobs).mean(axis=0))


def answers(logprobs: np.ndarray, gold: np.ndarray, prior: np.ndarray | None) -> TierAnswers:
    adjusted = logprobs - (prior if prior is not None else 0.0)
    adjusted = adjusted - adjusted.max(axis=1, keepdims=True)
    probs = np.exp(adjusted)
    probs /= probs.sum(axis=1, keepdims=True)
    return TierAnswers(probs, probs.argmax(axis=1) == gold)


@dataclass
class Curve:
    strategy: str
    shares: np.ndarray  # share of questions sent to the large tier
    accuracy: np.ndarray
    apgr: float
    share_for_gap: dict[str, float | None]  # "50%"/"80%"/"95%" of the gap -> smallest share reaching it
    operating: dict[str, float] = field(default_factory=dict)  # at the threshold fitted on training rows


def curve(strategy: str, scores: np.ndarray, small: np.ndarray, large: np.ndarray) -> Curve:
    """Route the top-k by score to the large tier, for every k; ties broken by question order."""
    n = len(scores)
    order = np.argsort(-scores, kind="stable")
    gain = (large.astype(float) - small.astype(float))[order]
    accuracy = (small.sum() + np.concatenate([[0.0], np.cumsum(gain)])) / n
    shares = np.arange(n + 1) / n
    return _with_gap(strategy, shares, accuracy, small.mean(), large.mean())


def random_curve(small: np.ndarray, large: np.ndarray) -> Curve:
    """Random routing's expected curve: a straight line between the two tiers."""
    shares = np.linspace(0, 1, len(small) + 1)
    accuracy = small.mean() + shares * (large.mean() - small.mean())
    return _with_gap("random", shares, accuracy, small.mean(), large.mean())


def _with_gap(strategy: str, shares: np.ndarray, accuracy: np.ndarray, low: float, high: float) -> Curve:
    gap = high - low
    pgr = (accuracy - low) / gap if gap > 0 else np.ones_like(accuracy)
    apgr = float(np.trapezoid(pgr, shares))
    reach = {}
    for target in (0.5, 0.8, 0.95):
        hit = np.nonzero(pgr >= target - 1e-9)[0]
        reach[f"{round(target * 100)}%"] = float(shares[hit[0]]) if len(hit) else None
    return Curve(strategy, shares, accuracy, apgr, reach)


def threshold_for_share(train_scores: np.ndarray, share: float) -> float:
    """The score above which ``share`` of the training questions would go to the large tier."""
    if share <= 0:
        return float("inf")
    return float(np.quantile(train_scores, 1 - share, method="higher"))


def threshold_for_quality(train_scores: np.ndarray, small: np.ndarray, large: np.ndarray, target: float) -> float:
    """The highest threshold whose training-split accuracy reaches ``target`` × the large tier's."""
    c = curve("fit", train_scores, small, large)
    goal = target * large.mean()
    hit = np.nonzero(c.accuracy >= goal - 1e-9)[0]
    k = int(hit[0]) if len(hit) else len(train_scores)
    ordered = np.sort(train_scores)[::-1]
    return float(ordered[k - 1]) if k > 0 else float("inf")


def operate(scores: np.ndarray, threshold: float, small: np.ndarray, large: np.ndarray) -> dict[str, float]:
    escalate = scores >= threshold
    accuracy = float(np.where(escalate, large, small).mean())
    return {"threshold": threshold, "large_share": float(escalate.mean()), "accuracy": accuracy,
            "of_large": accuracy / large.mean() if large.mean() else 0.0}
