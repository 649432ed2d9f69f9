"""The learned router: from the query alone, how likely is it that only the large tier gets it right?

Trained on recorded outcomes (query, small correct?, large correct?). The target is
"large right and small wrong": when both tiers are right, or both wrong, the small
tier costs less for the same result, so those queries are not worth escalating.
A logistic regression on the query's embedding, regularisation chosen by
cross-validation on the training rows only.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slmkit.errors import InvalidInputError, NotTrainedError


@dataclass
class LearnedRouter:
    model: str | None = None
    threads: int | None = 1
    coef: np.ndarray | None = None
    intercept: float = 0.0
    c: float = 1.0
    _embed: object = field(default=None, init=False, repr=False)

    def warm_up(self) -> LearnedRouter:
        from slmkit.skills.embed import Embed

        if self._embed is None:
            self._embed = Embed(self.model, self.threads).warm_up()
        return self

    def features(self, queries: Sequence[str]) -> np.ndarray:
        self.warm_up()
        return self._embed.vectors(list(queries))  # type: ignore[attr-defined]

    def fit(self, queries: Sequence[str], small_correct: Sequence[bool], large_correct: Sequence[bool],
            features: np.ndarray | None = None, seed: int = 13) -> LearnedRouter:
        from sklearn.linear_model import LogisticRegressionCV

        y = np.array([lg and not sm for sm, lg in zip(small_correct, large_correct, strict=True)], dtype=int)
        if len(y) != len(queries) or len(set(y)) < 2:
            raise InvalidInputError("the learned router needs outcomes where escalating helps and where it does not")
        x = self.features(queries) if features is None else features
        folds = max(2, min(5, int(min(np.bincount(y)))))
        clf = LogisticRegressionCV(Cs=np.logspace(-2, 2, 9), cv=folds, scoring="neg_log_loss", max_iter=2000,
                                   random_state=seed)
        with warnings.catch_warnings():  # scikit-learn 1.8 announces attribute renames we do not use
            warnings.simplefilter("ignore", FutureWarning)
            clf.fit(x, y)
        self.coef = clf.coef_[0].astype(np.float32)
        self.intercept = float(clf.intercept_[0])
        self.c = float(clf.C_[0])
        return self

    def needs_large(self, queries: Sequence[str] | None = None, features: np.ndarray | None = None) -> np.ndarray:
        """Probability, per query, that escalating to the large tier changes a wrong answer into a right one."""
        if self.coef is None:
            raise NotTrainedError("the learned router is not trained: run `slmkit route calibrate` first")
        x = self.features(queries or []) if features is None else features
        return 1.0 / (1.0 + np.exp(-(x @ self.coef + self.intercept)))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"model": self.model, "coef": self.coef.tolist() if self.coef is not None else None,
                                   "intercept": self.intercept, "c": self.c}), encoding="utf-8")
        tmp.replace(path)  # the previous router stays until the new one is whole

    @classmethod
    def load(cls, path: Path, threads: int | None = 1) -> LearnedRouter:
        if not path.is_file():
            raise NotTrainedError(f"no learned router at {path}: run `slmkit route calibrate` first")
        data = json.loads(path.read_text(encoding="utf-8"))
        coef = np.array(data["coef"], dtype=np.float32) if data.get("coef") is not None else None
        return cls(data.get("model"), threads, coef, float(data["intercept"]), float(data.get("c", 1.0)))
