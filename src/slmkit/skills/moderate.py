"""``moderate``: a toxicity score with categories, and prompt-injection heuristics.

No neural toxicity model ships in a package, so the score comes from a linear head
on sentence embeddings that slmkit trains itself (``slmkit setup``, or on first use)
on the train split of packaged ToxiGen, RealToxicityPrompts and benign text, and on
half of slmkit's own ordinary sentences (support tickets, small talk) and of their
abusive counterpart; see ``slmkit.evals.moderation`` for the data and ``slmkit eval
moderate`` for how it fares against the profanity baseline (alt-profanity-check,
TF-IDF + linear SVM) and on the held-out halves of slmkit's own sentences.

``score`` is a logistic combination of the head and the baseline, fitted on
out-of-fold scores of the train rows: the baseline is sharp on swear words, the head
on insults and hate without them. Its bias is shifted so that the default threshold,
0.5, flags at most 2 % of everyday benign training text out of fold
(``slmkit.train.builtin.MODERATION_TARGET_FPR``): the training mix is half toxic, real
traffic is not, and a false flag with ``moderation: block`` refuses a real user. So
``score`` reads as "probability toxic, under a prior where toxic text is rare", and
``flagged`` means ``score >= threshold`` (toxicity only); an injection finding is
reported beside it in ``injection``.

Categories come from a second head over the seven RealToxicityPrompts subsets,
trained on toxic rows only: it answers "if this is toxic, what kind", so its
probabilities are multiplied by ``score`` and sum to it. Those subsets group prompts
by the kind of continuation they provoked, which is a loose label: treat the
categories as a hint, not a verdict. A category is reported true (in
``flagged_categories``) only when the text is flagged and the category's own score
reaches its own threshold: the F1-best cut-off on out-of-fold scores, never below
0.25, recorded in the category head (``Moderate.category_threshold``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from slmkit.errors import InvalidInputError
from slmkit.skills.base import clean
from slmkit.skills.embed import Embed
from slmkit.skills.injection import InjectionResult, detect_injection
from slmkit.text import unbatch
from slmkit.train.heads import LinearHead


@dataclass(frozen=True)
class ModerationResult:
    flagged: bool  # score >= threshold
    score: float  # probability the text is toxic: head and profanity baseline combined
    head_score: float  # the trained head alone
    profanity_score: float  # alt-profanity-check alone
    categories: tuple[tuple[str, float], ...]  # top categories, best first; probabilities sum to <= score
    injection: InjectionResult | None = None  # None when the skill was built with injection=False
    # Those of ``categories`` that are true: the text is flagged and the category's score reaches its own
    # threshold. Empty when not flagged; may be empty when flagged (toxic, of no clear kind).
    flagged_categories: tuple[str, ...] = ()


def profanity_probability(texts: Sequence[str]) -> np.ndarray:
    """alt-profanity-check's probability per text (its model loads on first call, ~1 s)."""
    if not texts:
        return np.zeros(0)
    from profanity_check import predict_prob

    return np.asarray(predict_prob(list(texts)), dtype=np.float64)


def combine(head: np.ndarray, profanity: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """The logistic combination recorded in the head's meta, on the two scores' logits."""
    def logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    z = weights["head"] * logit(head) + weights["profanity"] * logit(profanity) + weights["bias"]
    return 1.0 / (1.0 + np.exp(-z))


class Moderate:
    """``Moderate()("you are a worthless idiot")`` -> ModerationResult(flagged=True, ...)."""

    name = "moderate"

    def __init__(self, model: str | None = None, *, threshold: float = 0.5, injection: bool = True,
                 top_k: int = 3, head: LinearHead | None = None, categories: LinearHead | None = None,
                 category_thresholds: Mapping[str, float] | None = None) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise InvalidInputError(f"moderation threshold must be between 0 and 1, got {threshold}")
        if top_k < 1:
            raise InvalidInputError(f"top_k must be at least 1, got {top_k}")
        for name, value in (category_thresholds or {}).items():
            if not 0.0 <= value <= 1.0:
                raise InvalidInputError(f"category threshold for {name!r} must be between 0 and 1, got {value}")
        self.embed = Embed(model)
        self.threshold = threshold
        self.injection = injection
        self.top_k = top_k
        self.head = head
        self.categories = categories
        self._category_thresholds = dict(category_thresholds or {})
        self._profanity_ready = False

    def warm_up(self) -> Moderate:
        self.embed.warm_up()
        if self.head is None or self.categories is None:
            from slmkit.train.builtin import moderation_heads

            head, categories = moderation_heads(self.embed.model)
            self.head = head if self.head is None else self.head
            self.categories = categories if self.categories is None else self.categories
        if not self._profanity_ready:
            profanity_probability(["warm up"])  # loads its pickled model now, not on the first request
            self._profanity_ready = True
        return self

    def category_threshold(self, name: str) -> float:
        """The score category ``name`` must reach to be true: the caller's, else the built head's, else
        ``threshold`` (a category head passed in without cut-offs: a category must pass what toxicity passes)."""
        if name in self._category_thresholds:
            return self._category_thresholds[name]
        built: dict[str, float] = self.categories.meta.get("thresholds", {}) if self.categories is not None else {}
        return float(built.get(name, self.threshold))

    def scores(self, batch: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(combined, head, profanity, category probabilities given toxic) for validated texts."""
        self.warm_up()
        assert self.head is not None and self.categories is not None
        x = self.embed.vectors(batch)
        head = self.head.predict_proba(x, batch)[:, self.head.labels.index("toxic")]
        profanity = profanity_probability(batch)
        weights: dict[str, float] | None = self.head.meta.get("combination")
        # A head passed in by the caller may carry no combination: then the head alone decides.
        combined = combine(head, profanity, weights) if weights else head
        return combined, head, profanity, self.categories.predict_proba(x, batch)

    def __call__(self, items: object) -> ModerationResult | list[ModerationResult]:
        batch, single = clean(items)
        if not batch:
            return []
        combined, head, profanity, kinds = self.scores(batch)
        assert self.categories is not None
        labels = self.categories.labels
        results = []
        for i, text in enumerate(batch):
            order = np.argsort(-kinds[i])[: self.top_k]
            top = tuple((labels[j], float(kinds[i, j] * combined[i])) for j in order)
            flagged = bool(combined[i] >= self.threshold)
            results.append(ModerationResult(
                flagged=flagged, score=float(combined[i]), head_score=float(head[i]),
                profanity_score=float(profanity[i]), categories=top,
                injection=detect_injection(text) if self.injection else None,
                flagged_categories=tuple(name for name, p in top if flagged and p >= self.category_threshold(name)),
            ))
        return unbatch(results, single)
