"""Fit a collection's fusion weights on its own questions (``slmkit rag tune``).

Why: how much the encoder's list deserves in the fusion depends on the text. Measured with MiniLM,
dense trails BM25 by ~7 points of recall@5 on Wikipedia paragraphs and by ~14 on stories and forum
posts; one fixed weight either under-uses it on the first or lets it drag the second below BM25.
The weights are few (dense share in the fusion, the re-ranker's dense share, how much of the fused
score the re-ranker keeps), so a few hundred questions with their source documents fit them.

How: each development question is retrieved once (both lists, vectors from the index); every grid
point is then scored on those candidates alone, so a 160-point grid costs about four retrievals a
question, not 160 (measured on a busy 2-core machine: 0.8 s a question, against 0.2 s for one
retrieval in all four modes). The choice maximises the re-ranked MRR@20 (document level); the defaults are scored first and
kept unless a grid point beats them, and the result reports BM25 and dense alone on the same
questions, so it is visible whether the fusion stays above the better single retriever.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slmkit.errors import InvalidInputError
from slmkit.rag.retrieve import MODES, TUNABLE, TUNED_KEY, RetrievalConfig

if TYPE_CHECKING:
    from slmkit.rag.retrieve import Candidates, Retriever

GRID: dict[str, tuple[float, ...]] = {
    "dense_share": (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8),
    "rerank_weight": (0.0, 0.25, 0.5, 0.75, 1.0),
    "rerank_blend": (0.25, 0.5, 0.75, 1.0),
}
DEPTH = 20
MIN_QUESTIONS = 20


@dataclass(frozen=True)
class DevQuestion:
    question: str
    sources: frozenset[str]  # the document(s) that answer it, as the index names them


@dataclass
class ModeScores:
    recall_at_1: float
    recall_at_5: float
    mrr: float


@dataclass
class TuneResult:
    collection: str
    questions: int
    chosen: dict[str, float]
    default: dict[str, float]
    scores: dict[str, ModeScores] = field(default_factory=dict)  # bm25, dense, hybrid/rerank default & tuned
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def read_questions(path: Path) -> list[DevQuestion]:
    """JSON lines ``{"question": ..., "source": "docs/a.md"}`` (or ``"sources": [...]``)."""
    if not path.is_file():
        raise InvalidInputError(f"{path} does not exist")
    out = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            sources = row.get("sources") or [row["source"]]
            if not isinstance(row["question"], str) or not row["question"].strip():
                raise ValueError
            out.append(DevQuestion(row["question"], frozenset(str(s) for s in sources)))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise InvalidInputError(f"{path}:{number}: expected {{\"question\": ..., \"source\": ...}}") from None
    return out


def _rank(sources: Sequence[str], gold: frozenset[str]) -> int | None:
    """1-based rank of the first gold document among distinct documents, within DEPTH."""
    seen: list[str] = []
    for source in sources:
        if source not in seen:
            seen.append(source)
            if source in gold:
                return len(seen)
            if len(seen) >= DEPTH:
                return None
    return None


def _scores(ranks: Sequence[int | None]) -> ModeScores:
    n = max(1, len(ranks))
    return ModeScores(sum(1 for r in ranks if r is not None and r <= 1) / n,
                      sum(1 for r in ranks if r is not None and r <= 5) / n,
                      sum(1.0 / r for r in ranks if r is not None) / n)


def grid_ranks(retriever: Retriever, cands: Candidates, gold: frozenset[str],
               grid: dict[str, tuple[float, ...]]) -> dict[tuple[float, float, float], tuple[int | None, int | None]]:
    """(hybrid rank, re-ranked rank) of the gold document at every grid point, from one query's candidates."""
    import numpy as np

    base = retriever.config
    out: dict[tuple[float, float, float], tuple[int | None, int | None]] = {}
    for share in grid["dense_share"]:
        config = RetrievalConfig(**{**base.to_dict(), "dense_share": share})
        fused = retriever.fuse(cands, config)
        rows = retriever.rows(fused, base.rerank_depth + DEPTH * 3)
        hybrid = _rank([row.source for row, _ in rows], gold)
        head, parts = retriever.rerank_parts(cands, rows[: base.rerank_depth])
        tail = [row.source for row, _ in rows[len(head):]]
        for weight, blend in itertools.product(grid["rerank_weight"], grid["rerank_blend"]):
            scores = retriever.rerank_scores(parts, RetrievalConfig(
                **{**config.to_dict(), "rerank_weight": weight, "rerank_blend": blend}))
            order = np.argsort(-np.asarray(scores), kind="stable")
            out[(share, weight, blend)] = (hybrid, _rank([head[i].source for i in order] + tail, gold))
    return out


def _query_vectors(retriever: Retriever, questions: Sequence[DevQuestion], known: Mapping[str, Any] | None) -> list[Any]:
    """Each question's vector: from ``known`` (a caller that embedded them already: an evaluation that
    fits and scores several ways on one set), else embedded now."""
    if known is not None and all(q.question in known for q in questions):
        return [known[q.question] for q in questions]
    return list(retriever.embed_queries([q.question for q in questions]))


def fit(retriever: Retriever, questions: Sequence[DevQuestion], grid: dict[str, tuple[float, ...]] | None = None,
        progress: Callable[[int], None] | None = None, vectors: Mapping[str, Any] | None = None) -> TuneResult:
    """The grid point with the best re-ranked MRR@20 on ``questions`` (the defaults win ties);
    ``vectors``: query vectors by question text, already made with the collection's encoder."""
    grid = {key: tuple(sorted(set(grid[key]) | {getattr(RetrievalConfig(), key)})) for key in TUNABLE} \
        if grid else {key: tuple(sorted(set(GRID[key]) | {getattr(RetrievalConfig(), key)})) for key in TUNABLE}
    if len(questions) < MIN_QUESTIONS:
        raise InvalidInputError(f"tuning needs at least {MIN_QUESTIONS} questions with their sources, "
                                f"got {len(questions)}")
    known = {row["source"] for row in retriever.index.query(
        "SELECT source FROM documents WHERE collection = ?", (retriever.collection.name,))}
    missing = sorted({s for q in questions for s in q.sources} - known)
    if missing:
        raise InvalidInputError(f"{len(missing)} source(s) are not in collection {retriever.collection.name!r}, "
                                f"e.g. {missing[0]!r}; name them as `slmkit ask --retrieve-only` shows them")
    started = time.perf_counter()
    retriever.warm_up()
    qvecs = _query_vectors(retriever, questions, vectors)
    points: dict[tuple[float, float, float], list[tuple[int | None, int | None]]] = {}
    single: dict[str, list[int | None]] = {"bm25": [], "dense": []}
    for q, v in zip(questions, qvecs, strict=True):
        cands = retriever.candidates(q.question, DEPTH + 10, MODES, query_vector=v)
        single["bm25"].append(_rank([r.source for r, _ in retriever.rows(cands.bm25, DEPTH * 3)], q.sources))
        single["dense"].append(_rank([r.source for r, _ in retriever.rows(cands.dense, DEPTH * 3)], q.sources))
        for point, ranks in grid_ranks(retriever, cands, q.sources, grid).items():
            points.setdefault(point, []).append(ranks)
        if progress:
            progress(1)
    default = RetrievalConfig()
    key_default = (default.dense_share, default.rerank_weight, default.rerank_blend)
    best = key_default
    best_mrr = _scores([r for _, r in points[key_default]]).mrr
    for point, ranks in sorted(points.items()):
        mrr = _scores([r for _, r in ranks]).mrr
        if mrr > best_mrr + 1e-9:
            best, best_mrr = point, mrr
    chosen = dict(zip(TUNABLE, best, strict=True))
    scores = {
        "bm25": _scores(single["bm25"]), "dense": _scores(single["dense"]),
        "hybrid (default)": _scores([h for h, _ in points[key_default]]),
        "rerank (default)": _scores([r for _, r in points[key_default]]),
        "hybrid (tuned)": _scores([h for h, _ in points[best]]),
        "rerank (tuned)": _scores([r for _, r in points[best]]),
    }
    return TuneResult(retriever.collection.name, len(questions), chosen,
                      {key: getattr(default, key) for key in TUNABLE}, scores, time.perf_counter() - started)


def evaluate(retriever: Retriever, questions: Sequence[DevQuestion], configs: dict[str, dict[str, float]],
             progress: Callable[[int], None] | None = None, vectors: Mapping[str, Any] | None = None
             ) -> dict[str, ModeScores]:
    """BM25 and dense alone, and hybrid / re-ranked under each named set of weights, on ``questions``
    (e.g. the held-out half after fitting on the other)."""
    retriever.warm_up()
    qvecs = _query_vectors(retriever, questions, vectors)
    ranks: dict[str, list[int | None]] = {"bm25": [], "dense": []}
    for q, v in zip(questions, qvecs, strict=True):
        cands = retriever.candidates(q.question, DEPTH + 10, MODES, query_vector=v)
        ranks["bm25"].append(_rank([r.source for r, _ in retriever.rows(cands.bm25, DEPTH * 3)], q.sources))
        ranks["dense"].append(_rank([r.source for r, _ in retriever.rows(cands.dense, DEPTH * 3)], q.sources))
        for name, values in configs.items():
            point = tuple(float(values[key]) for key in TUNABLE)
            grid = {key: (value,) for key, value in zip(TUNABLE, point, strict=True)}
            hybrid, reranked = grid_ranks(retriever, cands, q.sources, grid)[point]  # type: ignore[index]
            ranks.setdefault(f"hybrid ({name})", []).append(hybrid)
            ranks.setdefault(f"rerank ({name})", []).append(reranked)
        if progress:
            progress(1)
    return {name: _scores(r) for name, r in ranks.items()}


def save(retriever: Retriever, result: TuneResult) -> None:
    """Store the chosen weights in the collection: every later ``Retriever`` on it uses them."""
    retriever.index.set_collection_meta(retriever.collection.name, TUNED_KEY, {
        **result.chosen, "questions": result.questions,
        "mrr": round(result.scores["rerank (tuned)"].mrr, 4), "tuned": time.time(),
    })
