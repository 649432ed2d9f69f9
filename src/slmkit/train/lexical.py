"""TF-IDF word uni- and bigram features that sit beside the embedding in a head.

Why: a small encoder blurs rare but decisive words ("playlist", "screening");
a sparse lexical block lets the linear head use them. Measured on SNIPS with
MiniLM: 10-shot 0.904 -> 0.933, all examples 0.957 -> 0.971 (see `slmkit eval classify`).
Kept self-contained (not sklearn's vectoriser) so a head saves as plain arrays.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

_TOKEN = re.compile(r"(?u)\b\w\w+\b")


def _terms(text: str) -> list[str]:
    words = _TOKEN.findall(text.lower())
    return words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]


@dataclass
class Lexical:
    vocabulary: dict[str, int]
    idf: np.ndarray

    @classmethod
    def fit(cls, texts: Sequence[str]) -> Lexical:
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(_terms(text)))
        vocabulary = {term: i for i, term in enumerate(sorted(df))}
        n = len(texts)
        idf = np.asarray([math.log((1 + n) / (1 + df[t])) + 1 for t in sorted(df)], dtype=np.float32)
        return cls(vocabulary, idf)

    def transform(self, texts: Sequence[str]):  # -> scipy.sparse.csr_matrix
        from scipy.sparse import csr_matrix

        rows, cols, vals = [], [], []
        for r, text in enumerate(texts):
            counts = Counter(t for t in _terms(text) if t in self.vocabulary)
            if not counts:
                continue
            idx = np.fromiter((self.vocabulary[t] for t in counts), dtype=np.int64, count=len(counts))
            w = (1 + np.log(np.fromiter(counts.values(), dtype=np.float32, count=len(counts)))) * self.idf[idx]
            w /= np.linalg.norm(w)
            rows.extend([r] * len(idx))
            cols.extend(idx.tolist())
            vals.extend(w.tolist())
        return csr_matrix((vals, (rows, cols)), shape=(len(texts), len(self.vocabulary)), dtype=np.float32)
