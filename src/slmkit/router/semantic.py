"""Semantic routes: named intents defined by example utterances, matched by embedding similarity.

A route's score for a query is its best cosine similarity to the route's utterances
(one matrix product after one embedding); the best route wins if its score clears that
route's own threshold, otherwise the outcome is "no route". Thresholds are fitted from
labelled queries, "no route" examples included, so each route is as strict as its
neighbours require.

    routes:
      - name: weather
        target: skill:classify      # skill:NAME | rag:COLLECTION | planner | tier:NAME
        utterances: ["will it rain tomorrow", "weather in Paris"]
        threshold: 0.55             # optional; `fit` sets it
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from slmkit.errors import InvalidInputError


@dataclass
class Route:
    name: str
    utterances: list[str]
    target: str = ""
    threshold: float = 0.5

    def __post_init__(self) -> None:
        if not self.name or not self.utterances:
            raise InvalidInputError(f"route {self.name!r} needs a name and at least one utterance")
        kind = self.target.split(":", 1)[0] if self.target else ""
        if kind not in {"", "skill", "rag", "planner", "tier"}:
            raise InvalidInputError(
                f"route {self.name!r}: target {self.target!r} must be skill:NAME, rag:COLLECTION, planner or tier:NAME"
            )


@dataclass(frozen=True)
class RouteMatch:
    route: str | None  # None: no route cleared its threshold
    score: float  # the best route's similarity
    candidate: str  # the best route, matched or not
    target: str | None
    ms: float


@dataclass
class SemanticRouter:
    routes: list[Route]
    model: str | None = None
    threads: int | None = 1
    _matrix: np.ndarray | None = field(default=None, init=False, repr=False)
    _owner: np.ndarray | None = field(default=None, init=False, repr=False)
    _embed: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        names = [r.name for r in self.routes]
        if not names:
            raise InvalidInputError("a semantic router needs at least one route")
        if len(set(names)) != len(names):
            raise InvalidInputError(f"duplicate route names: {sorted({n for n in names if names.count(n) > 1})}")

    @classmethod
    def from_yaml(cls, path: str | Path, model: str | None = None) -> SemanticRouter:
        import yaml

        try:
            data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise InvalidInputError(f"cannot read routes from {path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("routes"), list):
            raise InvalidInputError(f"{path}: expected a mapping with a 'routes' list")
        try:
            routes = [Route(**r) for r in data["routes"]]
        except TypeError as exc:
            raise InvalidInputError(f"{path}: {exc}") from None
        return cls(routes, model=model)

    def to_yaml(self, path: str | Path) -> None:
        import yaml

        rows = [{"name": r.name, "target": r.target, "threshold": round(r.threshold, 4), "utterances": r.utterances}
                for r in self.routes]
        Path(path).write_text(yaml.safe_dump({"routes": rows}, sort_keys=False, allow_unicode=True), encoding="utf-8")

    def warm_up(self) -> SemanticRouter:
        from slmkit.skills.embed import Embed

        if self._matrix is None:
            self._embed = Embed(self.model, self.threads).warm_up()
            utterances = [u for r in self.routes for u in r.utterances]
            self._matrix = self._embed.vectors(utterances)  # type: ignore[attr-defined]
            self._owner = np.array([i for i, r in enumerate(self.routes) for _ in r.utterances])
        return self

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        """(n_queries, n_routes): each route's best similarity to each query."""
        self.warm_up()
        sims = self._embed.vectors(list(queries)) @ self._matrix.T  # type: ignore[union-attr, attr-defined]
        out = np.full((len(queries), len(self.routes)), -1.0, dtype=np.float32)
        for i in range(len(self.routes)):
            out[:, i] = sims[:, self._owner == i].max(axis=1)
        return out

    def __call__(self, query: str) -> RouteMatch:
        started = time.perf_counter()
        row = self.scores([query])[0]
        best = int(row.argmax())
        route = self.routes[best]
        matched = float(row[best]) >= route.threshold
        return RouteMatch(route.name if matched else None, float(row[best]), route.name,
                          route.target if matched else None, 1000 * (time.perf_counter() - started))

    def fit(self, queries: Sequence[str], labels: Sequence[str | None]) -> dict[str, float]:
        """Set every route's threshold to maximise routing accuracy on labelled queries
        (label None = should match no route); coordinate ascent over the routes."""
        if len(queries) != len(labels) or not queries:
            raise InvalidInputError("fit needs as many labels as queries, and at least one")
        names = [r.name for r in self.routes]
        unknown = {lab for lab in labels if lab is not None and lab not in names}
        if unknown:
            raise InvalidInputError(f"labels name unknown routes: {sorted(unknown)}")
        scores = self.scores(queries)
        best = scores.argmax(axis=1)
        top = scores[np.arange(len(queries)), best]
        gold = np.array([names.index(lab) if lab is not None else -1 for lab in labels])
        thresholds = np.array([r.threshold for r in self.routes], dtype=np.float64)

        def accuracy(th: np.ndarray) -> float:
            predicted = np.where(top >= th[best], best, -1)
            return float((predicted == gold).mean())

        for _ in range(3):
            for i in range(len(self.routes)):
                # Cut points halfway between neighbouring scores; of the cuts that score best,
                # the middle one, so the threshold sits mid-gap rather than on an example.
                mine = np.unique(top[best == i])
                candidates = np.concatenate([[0.0], (mine[:-1] + mine[1:]) / 2, [mine[-1] + 1e-3]]) if len(mine) \
                    else np.array([thresholds[i]])
                trial = thresholds.copy()
                results = []
                for c in candidates:
                    trial[i] = c
                    results.append(accuracy(trial))
                winners = np.nonzero(np.isclose(results, max(results)))[0]
                thresholds[i] = float(candidates[winners[len(winners) // 2]])
        for route, th in zip(self.routes, thresholds, strict=True):
            route.threshold = float(th)
        return {r.name: r.threshold for r in self.routes}
