"""A linear head on frozen embeddings, with temperature-scaled probabilities.

Why a linear head: with a good sentence encoder, logistic regression on a handful
of examples per class is strong, trains in milliseconds, and is easy to save.
Probabilities are calibrated by one temperature fitted on cross-validated logits,
so "none of these below p" means roughly what it says.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from slmkit.errors import InvalidInputError
from slmkit.train.lexical import Lexical


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fit_temperature(logits: np.ndarray, y: np.ndarray) -> float:
    """The temperature that minimises held-out negative log-likelihood (coarse-to-fine grid)."""
    def nll(t: float) -> float:
        p = _softmax(logits / t)
        return float(-np.log(np.clip(p[np.arange(len(y)), y], 1e-12, None)).mean())

    grid = np.exp(np.linspace(np.log(0.05), np.log(20.0), 60))
    best = min(grid, key=nll)
    fine = np.linspace(best * 0.85, best * 1.15, 21)
    return float(min(fine, key=nll))


@dataclass
class LinearHead:
    labels: list[str]
    weights: np.ndarray  # (n_labels, dim [+ n_terms])  (binary heads keep two rows too: one contract)
    bias: np.ndarray  # (n_labels,)
    temperature: float = 1.0
    meta: dict = field(default_factory=dict)
    lexical: Lexical | None = None  # when set, weighted terms of the text (TF-IDF or NB) follow the embedding

    def features(self, x: np.ndarray, texts: Sequence[str] | None = None):
        if self.lexical is None:
            return x
        if texts is None or len(texts) != len(x):
            raise InvalidInputError("this head also reads the words: pass the texts along with their embeddings")
        return _join(x, self.lexical.transform(texts))

    @classmethod
    def fit(
        cls,
        x: np.ndarray,
        y: list[str],
        *,
        c: float = 10.0,
        calibrate: bool = True,
        seed: int = 0,
        texts: Sequence[str] | None = None,
        weighting: Literal["idf", "nb"] = "idf",
    ) -> LinearHead:
        """Fit on embeddings ``x`` and string labels ``y`` (at least 2 classes, 1 example each).

        With ``texts`` the head also learns word features of those texts, weighted by TF-IDF or, for two
        classes, by ``weighting="nb"``: Naive-Bayes log-count ratios, fitted inside each calibration fold.
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold

        if len(x) != len(y):
            raise InvalidInputError(f"{len(x)} texts but {len(y)} labels")
        counts = Counter(y)
        if len(counts) < 2:
            raise InvalidInputError("a classifier needs at least two distinct labels")
        if weighting == "nb" and len(counts) != 2:
            raise InvalidInputError("Naive-Bayes term weights need exactly two labels")
        labels = sorted(counts)
        index = {label: i for i, label in enumerate(labels)}
        yi = np.asarray([index[v] for v in y])

        def design(rows: np.ndarray, lexical: Lexical | None):
            return x[rows] if lexical is None else _join(x[rows], lexical.transform([texts[i] for i in rows]))

        def lexicon(rows: np.ndarray) -> Lexical | None:
            if texts is None:
                return None
            return Lexical.fit([texts[i] for i in rows], yi[rows].tolist() if weighting == "nb" else None)

        def train(xs, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
            model.fit(xs, ys)
            w, b = model.coef_, model.intercept_
            if w.shape[0] == 1:  # sklearn's binary form: turn it into two symmetric rows
                w = np.vstack([-w[0] / 2, w[0] / 2])
                b = np.array([-b[0] / 2, b[0] / 2])
            return w.astype(np.float32), b.astype(np.float32)

        temperature = 1.0
        folds = min(5, min(counts.values()))
        if calibrate and folds >= 2:
            held = np.zeros((len(x), len(labels)), dtype=np.float32)
            splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
            for tr, te in splitter.split(x, yi):
                lexical = lexicon(tr)
                w, b = train(design(tr, lexical), yi[tr])
                present = np.unique(yi[tr])
                logits = np.full((len(te), len(labels)), -1e4, dtype=np.float32)
                logits[:, present] = np.asarray(design(te, lexical) @ w.T) + b
                held[te] = logits
            temperature = _fit_temperature(held, yi)
        every = np.arange(len(x))
        lexical = lexicon(every)
        w, b = train(design(every, lexical), yi)
        meta = {"examples": dict(counts), "c": c, "folds": folds, "lexical": lexical is not None}
        if weighting == "nb" and lexical is not None:
            meta["weighting"] = "nb"
        return cls(labels, w, b, temperature, meta, lexical)

    def logits(self, x: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        return np.asarray(self.features(x, texts) @ self.weights.T) + self.bias

    def predict_proba(self, x: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        return _softmax(self.logits(x, texts) / self.temperature)

    def to_npz(self) -> dict[str, np.ndarray]:
        return {
            "weights": self.weights,
            "bias": self.bias,
            "temperature": np.asarray(self.temperature),
            "labels": np.asarray(json.dumps(self.labels)),
            "meta": np.asarray(json.dumps(self.meta)),
            **(
                {"terms": np.asarray(json.dumps(list(self.lexical.vocabulary))), "idf": self.lexical.idf}
                if self.lexical is not None else {}
            ),
        }

    @classmethod
    def from_npz(cls, data: dict[str, np.ndarray]) -> LinearHead:
        return cls(
            labels=json.loads(str(data["labels"])),
            weights=np.asarray(data["weights"], dtype=np.float32),
            bias=np.asarray(data["bias"], dtype=np.float32),
            temperature=float(data["temperature"]),
            meta=json.loads(str(data["meta"])),
            lexical=Lexical({t: i for i, t in enumerate(json.loads(str(data["terms"])))}, data["idf"])
            if "terms" in data else None,
        )


def _join(dense: np.ndarray, sparse):  # -> scipy.sparse.csr_matrix
    from scipy.sparse import csr_matrix, hstack

    return hstack([csr_matrix(dense), sparse], format="csr")
