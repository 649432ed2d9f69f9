"""The ``sentiment`` skill: the built head, or VADER as the baseline (see the package)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from slmkit.errors import InvalidInputError
from slmkit.skills.base import clean
from slmkit.skills.embed import Embed
from slmkit.skills.sentiment.features import SentimentModel
from slmkit.skills.sentiment.head import sentiment_model
from slmkit.text import unbatch
from slmkit.train.heads import LinearHead

Method = Literal["head", "vader"]
Outcome = Literal["positive", "negative", "neutral"]
# VADER's own convention for a neutral sentence: |compound| below 0.05.
VADER_NEUTRAL = 0.05


@dataclass(frozen=True)
class SentimentResult:
    label: Literal["positive", "negative"]  # the polarity, always one side (callers that need a side)
    score: float  # probability of ``label`` between the two sides (for VADER: (|compound| + 1) / 2)
    positive: float  # probability of positive between the two sides
    outcome: Outcome = "positive"  # the three-way answer: neutral when no side is what the text says
    neutral: float = 0.0  # probability the text is neutral (factual, no opinion); VADER: its "neu" share


class Sentiment:
    name = "sentiment"

    def __init__(self, method: Method = "head", model: str | None = None, head: LinearHead | None = None) -> None:
        """``head``: a caller's own positive/negative head instead of the built three-way model."""
        if method not in ("head", "vader"):
            raise InvalidInputError(f"unknown sentiment method {method!r}; use 'head' or 'vader'")
        self.method = method
        self.embed = Embed(model) if method == "head" else None
        self.head = head
        self.model: SentimentModel | None = None
        self._vader: Any = None

    def warm_up(self) -> Sentiment:
        if self.method == "vader":
            if self._vader is None:
                from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

                self._vader = SentimentIntensityAnalyzer()
            return self
        assert self.embed is not None
        self.embed.warm_up()
        if self.head is None and self.model is None:
            self.model = sentiment_model(self.embed.model)
        return self

    def probabilities(self, batch: list[str]) -> list[tuple[float, float, float]]:
        """(negative, neutral, positive) per text. A two-class head (a caller's own) has neutral 0."""
        self.warm_up()
        if self.method == "vader":
            out = []
            for text in batch:
                s = self._vader.polarity_scores(text)
                p = (s["compound"] + 1) / 2
                out.append((1 - p, float(s["neu"]), p))
            return out
        assert self.embed is not None
        if not batch:
            return []
        if self.model is not None:
            return [(float(a), float(b), float(c)) for a, b, c in self.model.probabilities(self.embed, batch)]
        assert self.head is not None
        probs = self.head.predict_proba(self.embed.vectors(batch), batch if self.head.lexical else None)
        labels = self.head.labels
        neutral = labels.index("neutral") if "neutral" in labels else None
        neg, pos = labels.index("negative"), labels.index("positive")
        return [(float(row[neg]), float(row[neutral]) if neutral is not None else 0.0, float(row[pos]))
                for row in probs]

    def positive_probability(self, batch: list[str]) -> list[float]:
        """Probability of positive between the two sides (neutral set aside)."""
        return [pos / (neg + pos) if neg + pos > 0 else 0.5 for neg, _, pos in self.probabilities(batch)]

    def __call__(self, items: object) -> SentimentResult | list[SentimentResult]:
        batch, single = clean(items)
        results = []
        for neg, neu, pos in self.probabilities(batch):
            p = pos / (neg + pos) if neg + pos > 0 else 0.5
            label: Literal["positive", "negative"] = "positive" if p >= 0.5 else "negative"
            if self.method == "vader":
                polar = abs(2 * p - 1) >= VADER_NEUTRAL
            else:
                polar = neu < max(neg, pos)
            outcome: Outcome = label if polar else "neutral"
            results.append(SentimentResult(label, p if label == "positive" else 1 - p, p, outcome, neu))
        return unbatch(results, single)
