"""Retrieval over one collection: BM25 (FTS5), dense (cosine), hybrid (reciprocal-rank fusion), and
hybrid re-ranked by the ``rerank`` specialist (bi-encoder + BM25 fusion).

The re-ranker scores the hybrid list's head with ``slmkit.skills.rerank.Rerank``
unchanged, except that the passages' vectors come from the index instead of being
encoded again: the same model made them at ingest, and re-encoding 30 passages
would cost ~150 ms a query on this CPU.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from slmkit.errors import InvalidInputError
from slmkit.rag.index import ChunkRow, Collection, Filter, Index

Mode = Literal["bm25", "dense", "hybrid", "rerank"]
MODES: tuple[Mode, ...] = ("bm25", "dense", "hybrid", "rerank")


@dataclass(frozen=True)
class RetrievalConfig:
    candidates: int = 100  # from each retriever into the fusion
    rrf_k: float = 60.0
    dense_share: float = 0.4  # weight of the dense list in the fusion (the BM25 list has 1 - dense_share)
    rerank_depth: int = 30  # how much of the hybrid list the re-ranker re-orders
    rerank_weight: float = 0.5  # Rerank's dense share
    rerank_blend: float = 0.5  # share of the hybrid (RRF) score kept in the final re-ranked order


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
class _Candidates:
    bm25: list[tuple[int, float]] = field(default_factory=list)
    dense: list[tuple[int, float]] = field(default_factory=list)
    cosine: dict[int, float] = field(default_factory=dict)


class _StoredVectors:
    """Stands in for ``Embed`` inside ``Rerank``: every text it is asked for was embedded already."""

    def __init__(self, vectors: dict[str, Any]) -> None:
        self._vectors = vectors

    def vectors(self, items: Sequence[str]) -> Any:
        import numpy as np

        return np.stack([self._vectors[t] for t in items])


class Retriever:
    """``Retriever("finance").search("cash position at year end", k=5)`` -> [Hit, ...]."""

    def __init__(self, collection: str, index: Index | None = None, config: RetrievalConfig | None = None) -> None:
        from slmkit.rag.ingest import open_index

        self.index = index or open_index()
        self.collection: Collection = self.index.collection(collection)
        self.config = config or RetrievalConfig()
        self._embed: Any = None
        self._rerank: Any = None

    def warm_up(self) -> Retriever:
        from slmkit.skills.embed import Embed
        from slmkit.skills.rerank import Rerank

        if self._embed is None:
            self._embed = Embed(self.collection.embed_model).warm_up()
        if self._rerank is None:
            self._rerank = Rerank(self.collection.embed_model, weight=self.config.rerank_weight)
            self._rerank.embed = self._embed
        self.index.vectors(self.collection)
        return self

    # -- the pieces ---------------------------------------------------------------------------
    def embed_queries(self, queries: Sequence[str]) -> Any:
        self.warm_up()
        return self._embed.vectors(list(queries))

    def _bm25(self, query: str, n: int, flt: Filter | None) -> list[tuple[int, float]]:
        from slmkit.skills.bm25 import tokenize

        return self.index.bm25(self.collection, tokenize(query), n, flt)

    def _dense(self, qvec: Any, n: int, flt: Filter | None) -> tuple[list[tuple[int, float]], Any, Any, Any]:
        import numpy as np

        ids, matrix = self.index.vectors(self.collection)
        if not len(ids):
            return [], ids, matrix, None
        scores = matrix @ qvec.astype(np.float32)
        if flt is not None and not flt.empty:
            allowed = self.index.allowed_chunks(self.collection.name, flt)
            scores = np.where(np.isin(ids, allowed), scores, -np.inf)
        n = min(n, len(ids))
        top = np.argpartition(-scores, n - 1)[:n]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(ids[i]), float(scores[i])) for i in top if np.isfinite(scores[i])], ids, matrix, scores

    def _fuse(self, cands: _Candidates) -> list[tuple[int, float]]:
        c = self.config
        fused: dict[int, float] = {}
        for weight, ranked in ((1.0 - c.dense_share, cands.bm25), (c.dense_share, cands.dense)):
            for rank, (cid, _) in enumerate(ranked):
                fused[cid] = fused.get(cid, 0.0) + weight / (c.rrf_k + rank + 1)
        return sorted(fused.items(), key=lambda kv: -kv[1])

    def _rows(self, ranked: list[tuple[int, float]], limit: int | None = None) -> list[tuple[ChunkRow, float]]:
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

    def run(self, query: str, k: int = 5, modes: Sequence[Mode] = ("rerank",), flt: Filter | None = None,
            query_vector: Any = None) -> dict[str, list[Hit]]:
        """Every requested mode's top ``k`` for one query, sharing the work they have in common."""
        import numpy as np

        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("query is empty")
        unknown = set(modes) - set(MODES)
        if unknown:
            raise InvalidInputError(f"unknown retrieval mode(s) {sorted(unknown)}; choose from {', '.join(MODES)}")
        if k < 1:
            raise InvalidInputError("k must be at least 1")
        c = self.config
        n = max(c.candidates, k * 2, c.rerank_depth)
        needs_dense = set(modes) != {"bm25"}
        cands = _Candidates()
        if set(modes) & {"bm25", "hybrid", "rerank"}:
            cands.bm25 = self._bm25(query, n, flt)
        ids = matrix = scores = qvec = None
        if needs_dense:
            qvec = query_vector if query_vector is not None else self.embed_queries([query])[0]
            cands.dense, ids, matrix, scores = self._dense(qvec, n, flt)
        bm25_of = dict(cands.bm25)

        def cosine(cid: int) -> float | None:
            if ids is None or not len(ids):
                return None
            pos = int(np.searchsorted(ids, cid))
            return float(scores[pos]) if pos < len(ids) and ids[pos] == cid else None

        def hits(ranked: list[tuple[int, float]], limit: int) -> list[Hit]:
            return [Hit(row, score, cosine(row.id), bm25_of.get(row.id)) for row, score in self._rows(ranked, limit * 2)][:limit]

        out: dict[str, list[Hit]] = {}
        if "bm25" in modes:
            out["bm25"] = hits(cands.bm25, k)
        if "dense" in modes:
            out["dense"] = hits(cands.dense, k)
        if {"hybrid", "rerank"} & set(modes):
            fused = self._fuse(cands)
            if "hybrid" in modes:
                out["hybrid"] = hits(fused, k)
            if "rerank" in modes:
                out["rerank"] = self._reranked(query, fused, k, ids, matrix, cosine, bm25_of, qvec)
        return out

    def _reranked(self, query: str, fused: list[tuple[int, float]], k: int, ids: Any, matrix: Any,
                  cosine: Any, bm25_of: dict[int, float], qvec: Any) -> list[Hit]:
        import numpy as np

        c = self.config
        rows = self._rows(fused, c.rerank_depth + k * 2 + 10)
        head = rows[: c.rerank_depth]
        if not head:
            return []
        texts = [row.embed_text for row, _ in head]
        stored = {query: np.asarray(qvec, dtype=np.float32)}
        for row, _ in head:
            stored[row.embed_text] = matrix[int(np.searchsorted(ids, row.id))]
        reranker = copy.copy(self._rerank)
        reranker.embed = _StoredVectors(stored)
        ranked = reranker.rank(query, texts)
        fused_of = dict(fused)
        top_rrf = max(fused_of.values()) if fused_of else 1.0
        scored = []
        for r in ranked:
            row = head[r.index][0]
            final = (1 - c.rerank_blend) * r.score + c.rerank_blend * fused_of.get(row.id, 0.0) / top_rrf
            scored.append(Hit(row, final, r.dense, bm25_of.get(row.id)))
        scored.sort(key=lambda h: -h.score)
        rest = [Hit(row, 0.0, cosine(row.id), bm25_of.get(row.id)) for row, _ in rows[len(head):]]
        return (scored + rest)[:k]

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


