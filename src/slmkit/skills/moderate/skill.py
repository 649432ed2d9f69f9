"""The ``moderate`` skill: one text or a batch in, a ``ModerationResult`` per text out (see the package)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from slmkit.errors import InvalidInputError
from slmkit.skills.base import clean
from slmkit.skills.embed import Embed
from slmkit.skills.injection import InjectionResult, detect_injection
from slmkit.skills.moderate.heads import moderation_heads
from slmkit.skills.moderate.profanity import combine, profanity_probability
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
