"""``rerank``: order candidate passages for a query by bi-encoder similarity fused with BM25.

No cross-encoder is packaged for this machine, so relevance is a weighted sum of
the cosine similarity and the BM25 score, each min-max scaled within the query's
candidates; ``weight`` is the dense share.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from slmkit.errors import InvalidInputError
from slmkit.skills.base import clean
from slmkit.skills.bm25 import bm25_scores
from slmkit.skills.embed import Embed


@dataclass(frozen=True)
class Ranked:
    index: int  # position in the caller's passage list
    text: str
    score: float  # fused relevance in [0, 1]
    dense: float  # cosine similarity
    lexical: float  # raw BM25


def _scale(values: np.ndarray) -> np.ndarray:
    span = float(values.max() - values.min()) if len(values) else 0.0
    return (values - values.min()) / span if span > 1e-9 else np.zeros_like(values)


class Rerank:
    name = "rerank"

    def __init__(self, model: str | None = None, weight: float = 0.7) -> None:
        if not 0.0 <= weight <= 1.0:
            raise InvalidInputError("weight (the dense share) must be between 0 and 1")
        self.embed = Embed(model)
        self.weight = weight

    def warm_up(self) -> Rerank:
        self.embed.warm_up()
        return self

    def rank(self, query: str, passages: Sequence[str], top_k: int | None = None) -> list[Ranked]:
        (query,), _ = clean(query)
        if isinstance(passages, str):
            raise InvalidInputError("passages must be a list of texts, not one string")
        passages, _ = clean(list(passages))
        if not passages:
            return []
        vectors = self.embed.vectors([query, *passages])
        dense = vectors[1:] @ vectors[0]
        lexical = bm25_scores(query, passages)
        fused = self.weight * _scale(dense) + (1 - self.weight) * _scale(lexical)
        if len(passages) == 1:
            fused = np.ones(1, dtype=np.float32)
        order = np.argsort(-fused, kind="stable")[: top_k or len(passages)]
        return [Ranked(int(i), passages[i], float(fused[i]), float(dense[i]), float(lexical[i])) for i in order]

    def __call__(
        self, query: str | Sequence[tuple[str, Sequence[str]]], passages: Sequence[str] | None = None,
        top_k: int | None = None,
    ) -> list[Ranked] | list[list[Ranked]]:
        """``rerank(query, passages)`` -> ranked list; ``rerank([(q, passages), ...])`` -> one list per query."""
        if passages is not None:
            if not isinstance(query, str | bytes):
                raise InvalidInputError("with passages given, query must be one text")
            return self.rank(query, passages, top_k)
        if isinstance(query, str | bytes):
            raise InvalidInputError("rerank needs passages: rerank(query, passages)")
        return [self.rank(q, p, top_k) for q, p in query]
