"""Okapi BM25 over a small in-memory set of passages (the lexical half of ``rerank``)."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"\w+", re.UNICODE)
# Short on purpose: only words so common they carry no signal in any English query.
STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were will with "
    "what which who whom when where why how do does did".split()
)


def tokenize(text: str) -> list[str]:
    return [t for t in _WORD.findall(text.lower()) if t not in STOPWORDS]


def bm25_scores(query: str, passages: Sequence[str], k1: float = 1.2, b: float = 0.75) -> np.ndarray:
    docs = [tokenize(p) for p in passages]
    n = len(docs)
    if n == 0:
        return np.zeros(0, dtype=np.float32)
    avg = sum(len(d) for d in docs) / n or 1.0
    df = Counter(term for d in docs for term in set(d))
    scores = np.zeros(n, dtype=np.float32)
    for term in set(tokenize(query)):
        if term not in df:
            continue
        idf = math.log(1 + (n - df[term] + 0.5) / (df[term] + 0.5))
        for i, doc in enumerate(docs):
            tf = doc.count(term)
            if tf:
                scores[i] += idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * len(doc) / avg))
    return scores
