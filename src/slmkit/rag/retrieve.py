"""Retrieval over one collection: BM25 (FTS5), dense (cosine), hybrid (weighted reciprocal-rank
fusion), and hybrid re-ranked (cosine and BM25 over the hybrid list's head, blended with its fused score).

Which signal to trust differs by collection: on encyclopaedic text the MiniLM encoder trails BM25 by a
few points, on stories and forum posts by ~14 (recall@5), and an equal vote lets the weak retriever drag the fusion
below BM25 alone. So the fusion's weights are per collection: ``slmkit rag tune`` fits them on the
collection's own questions (see ``slmkit.rag.tune``) and stores them in the collection; a collection
never tuned uses ``RetrievalConfig``'s defaults, which lean on BM25.

The re-ranker's passage vectors come from the index instead of being encoded again: the same model
made them at ingest, and re-encoding 30 passages would cost ~150 ms a query on this CPU.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

from slmkit.errors import InvalidInputError
from slmkit.rag.index import TUNED_KEY, ChunkRow, Collection, Filter, Index

Mode = Literal["bm25", "dense", "hybrid", "rerank"]
MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid", "rerank")
TUNABLE = ("dense_share", "rerank_weight", "rerank_blend")


@dataclass(frozen=True)
class RetrievalConfig:
    candidates: int = 100  # from each retriever into the fusion
    rrf_k: float = 60.0
    # Weight of the dense list in the fusion (BM25 has 1 - dense_share). Below an equal vote because the
    # encoder is the weaker retriever on every domain measured (SQuAD, CoQA stories); fitted on their
    # development halves the share went to 0.0, the encoder then counting only inside the re-ranker.
    # 0.3 for a collection never tuned keeps some dense recall for questions that share no word with
    # their answer (measured against 0.4: equal or better at recall@1/5 on both domains).
    dense_share: float = 0.3
    rerank_depth: int = 30  # how much of the hybrid list the re-ranker re-orders
    rerank_weight: float = 0.5  # the re-ranker's dense share (cosine vs BM25 within the head)
    rerank_blend: float = 0.5  # share of the hybrid (RRF) score kept in the final re-ranked order

    def tuned(self, values: Mapping[str, Any] | None) -> RetrievalConfig:
        """This config with a collection's fitted weights (unknown keys ignored, values checked)."""
        chosen = {}
        for key in TUNABLE:
            value = (values or {}).get(key)
            if isinstance(value, int | float) and 0.0 <= float(value) <= 1.0:
                chosen[key] = float(value)
        return replace(self, **chosen)

    def to_dict(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Hit:
    chunk: ChunkRow
    score: float  # the mode's own score (BM25, cosine, fused RRF or re-rank score); higher is better
    dense: float | None  # cosine similarity of query and chunk (None in pure BM25 mode)
    bm25: float | None  # FTS5 BM25 when the chunk was in the BM25 candidates

    @property
    def source(self) -> str:
        return self.chunk.source


@dataclass
class Candidates:
    """Both retrievers' lists for one query: everything the fusion and the re-ranker read, so a tuner
    can try many weightings on one retrieval."""

    query: str
    bm25: list[tuple[int, float]] = field(default_factory=list)
    dense: list[tuple[int, float]] = field(default_factory=list)
    ids: Any = None  # the collection's chunk ids (sorted), matrix rows, and this query's cosines
    matrix: Any = None
    scores: Any = None
    qvec: Any = None

    def cosine(self, cid: int) -> float | None:
        import numpy as np

        if self.ids is None or not len(self.ids):
            return None
        pos = int(np.searchsorted(self.ids, cid))
        return float(self.scores[pos]) if pos < len(self.ids) and self.ids[pos] == cid else None


def _minmax(values: Any) -> Any:
    import numpy as np

    span = float(values.max() - values.min()) if len(values) else 0.0
    return (values - values.min()) / span if span > 1e-9 else np.zeros_like(values)


class Retriever:
    """``Retriever("finance").search("cash position at year end", k=5)`` -> [Hit, ...].

    ``config`` None: the defaults with the collection's tuned weights, if it has any."""

    def __init__(self, collection: str, index: Index | None = None, config: RetrievalConfig | None = None) -> None:
        from slmkit.rag.ingest import open_index

        self.index = index or open_index()
        self._given = config
        self._embed: Any = None
        self._load(self.index.collection(collection))

    def _load(self, collection: Collection) -> None:
        self.collection: Collection = collection
        self.tuned: dict[str, Any] | None = collection.meta.get(TUNED_KEY)
        self.config = self._given or RetrievalConfig().tuned(self.tuned)
        self._embed = None

    def _follow(self) -> None:
        """A long-lived retriever (gateway, planner) follows a re-embed of its collection: queries must be
        embedded by the encoder that made the vectors, and the fitted weights went with the old one."""
        row = self.index.query("SELECT embed_model FROM collections WHERE name = ?", (self.collection.name,))
        if row and row[0][0] != self.collection.embed_model:
            self._load(self.index.collection(self.collection.name))

    def warm_up(self) -> Retriever:
        from slmkit.skills.embed import Embed

        if self._embed is None:
            self._embed = Embed(self.collection.embed_model).warm_up()
        self.index.vectors(self.collection)
        return self

    # -- the pieces ---------------------------------------------------------------------------
    def embed_queries(self, queries: Sequence[str]) -> Any:
        """Query vectors, marked as queries for asymmetric encoders (nomic's "search_query: ")."""
        self.warm_up()
        return self._embed.vectors(list(queries), query=True)

    def _bm25(self, query: str, n: int, flt: Filter | None) -> list[tuple[int, float]]:
        from slmkit.skills.bm25 import tokenize

        return self.index.bm25(self.collection, tokenize(query), n, flt)

    def _dense(self, qvec: Any, n: int, flt: Filter | None) -> tuple[list[tuple[int, float]], Any, Any, Any]:
        import numpy as np

        ids, matrix = self.index.vectors(self.collection)
        if not len(ids):
            return [], ids, matrix, None
        if matrix.shape[1] != len(qvec):
            raise InvalidInputError(f"collection {self.collection.name!r} was re-embedded during this query; "
                                    "ask again")
        scores = matrix @ qvec.astype(np.float32)
        if flt is not None and not flt.empty:
            allowed = self.index.allowed_chunks(self.collection.name, flt)
            scores = np.where(np.isin(ids, allowed), scores, -np.inf)
        n = min(n, len(ids))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])], ids, matrix, scores

    def candidates(self, query: str, k: int = 5, modes: Sequence[Mode] = ("rerank",), flt: Filter | None = None,
                   query_vector: Any = None) -> Candidates:
        """Both retrievers' candidate lists for ``query`` (only those ``modes`` need)."""
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("query is empty")
        unknown = set(modes) - set(MODES)
        if unknown:
            raise InvalidInputError(f"unknown retrieval mode(s) {sorted(unknown)}; choose from {', '.join(MODES)}")
        if k < 1:
            raise InvalidInputError("k must be at least 1")
        if query_vector is None:
            self._follow()
        c = self.config
        n = max(c.candidates, k * 2, c.rerank_depth)
        cands = Candidates(query)
        if set(modes) & {"bm25", "hybrid", "rerank"}:
            cands.bm25 = self._bm25(query, n, flt)
        if set(modes) != {"bm25"}:
            cands.qvec = query_vector if query_vector is not None else self.embed_queries([query])[0]
            cands.dense, cands.ids, cands.matrix, cands.scores = self._dense(cands.qvec, n, flt)
        return cands

    def fuse(self, cands: Candidates, config: RetrievalConfig | None = None) -> list[tuple[int, float]]:
        """Weighted reciprocal-rank fusion of the two lists."""
        c = config or self.config
        fused: dict[int, float] = {}
        for weight, ranked in ((1.0 - c.dense_share, cands.bm25), (c.dense_share, cands.dense)):
            if weight <= 0.0:
                continue
            for rank, (cid, _) in enumerate(ranked):
                fused[cid] = fused.get(cid, 0.0) + weight / (c.rrf_k + rank + 1)
        return sorted(fused.items(), key=lambda kv: -kv[1])

    def rows(self, ranked: list[tuple[int, float]], limit: int | None = None) -> list[tuple[ChunkRow, float]]:
        """Chunk rows in ranked order, dropping repeats of a text already listed (duplicate files, boilerplate)."""
        rows = self.index.chunks([cid for cid, _ in ranked[: limit or len(ranked)]])
        seen: set[str] = set()
        out = []
        for cid, score in ranked[: limit or len(ranked)]:
            row = rows.get(cid)
            if row is None or row.text_hash in seen:
                continue
            seen.add(row.text_hash)
            out.append((row, score))
        return out

    def rank(self, cands: Candidates, k: int = 5, modes: Sequence[Mode] = ("rerank",),
             config: RetrievalConfig | None = None) -> dict[str, list[Hit]]:
        """Every requested mode's top ``k`` from one query's candidates (``config``: other weights)."""
        c = config or self.config
        bm25_of = dict(cands.bm25)

        def hits(ranked: list[tuple[int, float]], limit: int) -> list[Hit]:
            return [Hit(row, score, cands.cosine(row.id), bm25_of.get(row.id))
                    for row, score in self.rows(ranked, limit * 2)][:limit]

        out: dict[str, list[Hit]] = {}
        if "bm25" in modes:
            out["bm25"] = hits(cands.bm25, k)
        if "dense" in modes:
            out["dense"] = hits(cands.dense, k)
        if {"hybrid", "rerank"} & set(modes):
            fused = self.fuse(cands, c)
            if "hybrid" in modes:
                out["hybrid"] = hits(fused, k)
            if "rerank" in modes:
                rows = self.rows(fused, c.rerank_depth + k * 2 + 10)
                head, parts = self.rerank_parts(cands, rows[: c.rerank_depth])
                scored = [Hit(row, float(score), cands.cosine(row.id), bm25_of.get(row.id))
                          for row, score in zip(head, self.rerank_scores(parts, c), strict=True)]
                scored.sort(key=lambda h: -h.score)
                rest = [Hit(row, 0.0, cands.cosine(row.id), bm25_of.get(row.id)) for row, _ in rows[len(head):]]
                out["rerank"] = (scored + rest)[:k]
        return out

    def rerank_parts(self, cands: Candidates, head: list[tuple[ChunkRow, float]]) -> tuple[list[ChunkRow], Any]:
        """The re-ranker's inputs for the head of the fused list: (rows, array of [cosine, BM25 within the
        head, fused score])."""
        import numpy as np

        from slmkit.skills.bm25 import bm25_scores

        if not head:
            return [], np.zeros((0, 3), dtype=np.float32)
        rows = [row for row, _ in head]
        positions = np.searchsorted(cands.ids, [row.id for row in rows])
        dense = cands.matrix[positions] @ np.asarray(cands.qvec, dtype=np.float32)
        lexical = bm25_scores(cands.query, [row.embed_text for row in rows])
        fused = np.asarray([score for _, score in head], dtype=np.float32)
        return rows, np.stack([dense, lexical, fused], axis=1)

    @staticmethod
    def rerank_scores(parts: Any, config: RetrievalConfig) -> Any:
        """Cosine and BM25, min-max scaled within the head, mixed by ``rerank_weight``; then blended with
        the fused score (scaled by its maximum) by ``rerank_blend``."""
        import numpy as np

        if not len(parts):
            return np.zeros(0, dtype=np.float32)
        c = config
        relevance = c.rerank_weight * _minmax(parts[:, 0]) + (1 - c.rerank_weight) * _minmax(parts[:, 1])
        if len(parts) == 1:
            relevance = np.ones(1, dtype=np.float32)
        top = float(parts[:, 2].max()) or 1.0
        return (1 - c.rerank_blend) * relevance + c.rerank_blend * parts[:, 2] / top

    def run(self, query: str, k: int = 5, modes: Sequence[Mode] = ("rerank",), flt: Filter | None = None,
            query_vector: Any = None) -> dict[str, list[Hit]]:
        """Every requested mode's top ``k`` for one query, sharing the work they have in common."""
        return self.rank(self.candidates(query, k, modes, flt, query_vector), k, modes)

    def search(self, query: str, k: int = 5, mode: Mode = "rerank", flt: Filter | None = None) -> list[Hit]:
        return self.run(query, k, (mode,), flt)[mode]


def search(query: str, collection: str, *, k: int = 5, mode: Mode = "rerank", flt: Filter | None = None,
           index: Index | None = None) -> list[Hit]:
    """One-shot retrieval (opens the default index); keep a ``Retriever`` for many queries."""
    return Retriever(collection, index).search(query, k, mode, flt)


def timed_search(retriever: Retriever, query: str, k: int = 5, mode: Mode = "rerank",
                 flt: Filter | None = None) -> tuple[list[Hit], float]:
    started = time.perf_counter()
    hits = retriever.search(query, k, mode, flt)
    return hits, 1000 * (time.perf_counter() - started)


