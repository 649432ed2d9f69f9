"""The ``sentiment`` skill: the built head, or VADER as the baseline (see the package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from slmkit.errors import InvalidInputError
from slmkit.skills.base import clean
from slmkit.skills.embed import Embed
from slmkit.skills.sentiment.head import sentiment_head
from slmkit.text import unbatch
from slmkit.train.heads import LinearHead

Method = Literal["head", "vader"]


@dataclass(frozen=True)
class SentimentResult:
    label: Literal["positive", "negative"]
    score: float  # probability of ``label`` (for VADER: (|compound| + 1) / 2)
    positive: float  # probability of positive


class Sentiment:
    name = "sentiment"

    def __init__(self, method: Method = "head", model: str | None = None, head: LinearHead | None = None) -> None:
        if method not in ("head", "vader"):
            raise InvalidInputError(f"unknown sentiment method {method!r}; use 'head' or 'vader'")
        self.method = method
        self.embed = Embed(model) if method == "head" else None
        self.head = head
        self._vader: Any = None

    def warm_up(self) -> Sentiment:
        if self.method == "vader":
            if self._vader is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                self._vader = SentimentIntensityAnalyzer()
            return self
        assert self.embed is not None
        self.embed.warm_up()
        if self.head is None:
            self.head = sentiment_head(self.embed.model)
        return self

    def positive_probability(self, batch: list[str]) -> list[float]:
        self.warm_up()
        if self.method == "vader":
            return [(self._vader.polarity_scores(t)["compound"] + 1) / 2 for t in batch]
        assert self.embed is not None and self.head is not None
        probs = self.head.predict_proba(self.embed.vectors(batch), batch) if batch else []
        column = self.head.labels.index("positive")
        return [float(row[column]) for row in probs]

    def __call__(self, items: object) -> SentimentResult | list[SentimentResult]:
        batch, single = clean(items)
        results = []
        for p in self.positive_probability(batch):
            label: Literal["positive", "negative"] = "positive" if p >= 0.5 else "negative"
            results.append(SentimentResult(label, p if label == "positive" else 1 - p, p))
        return unbatch(results, single)
