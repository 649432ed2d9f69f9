"""`slmkit bench rag`: ingest throughput, index size and query latency on SQuAD dev and on a
synthetic corpus of ~100,000 chunks.

The synthetic corpus is real packaged text recombined: SQuAD dev sentences, two or
three at a time, drawn with a fixed seed, 100 sections per Markdown document (one
chunk each). Queries are SQuAD dev questions, so they have real answers in it.
Latency is measured per mode, end to end (query embedding included, generation
excluded), after one warm-up query; the vector matrix's cold load is reported apart.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from slmkit.config import get_settings
from slmkit.datasets.loaders import load_squad
from slmkit.rag.corpora import squad_sources
from slmkit.rag.index import Index
from slmkit.rag.retrieve import MODES, Retriever
from slmkit.reports import Bar, no_bar

SECTIONS_PER_DOC = 100


@dataclass
class CorpusBench:
    corpus: str
    documents: int
    chunks: int
    ingest_seconds: float
    chunks_per_second: float
    index_mb: float
    vectors_cold_load_s: float
    queries: int
    latency_ms: dict[str, dict[str, float]]  # mode -> {p50, p95, mean}
    reused_index: bool = False


def bench_dir() -> Path:
    return get_settings().data_dir / "rag" / "bench"


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    pos = (len(ordered) - 1) * q
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def synthetic_documents(paragraphs: Sequence[str], chunks: int, seed: int) -> Iterator[Any]:
    """``chunks`` passages of 2-3 SQuAD sentences (at most 140 words), 100 per Markdown document."""
    from slmkit.rag.chunking import sentences
    from slmkit.rag.ingest import SourceText

    pool = [s for p in paragraphs for s in sentences(p) if len(s.split()) >= 4]
    rng = random.Random(seed)
    made = 0
    doc = 0
    while made < chunks:
        parts = []
        for n in range(min(SECTIONS_PER_DOC, chunks - made)):
            words: list[str] = []
            for sentence in rng.sample(pool, rng.choice((2, 3))):
                if len(words) + len(sentence.split()) > 140 and words:
                    break
                words += sentence.split()
            parts.append(f"## Section {n + 1}\n\n{' '.join(words)}")
        made += len(parts)
        yield SourceText(f"synthetic/doc-{doc:05d}.md", "\n\n".join(parts), kind="markdown",
                         meta={"corpus": "synthetic"})
        doc += 1


def _checkpointed_mb(index: Index) -> float:
    index.query("PRAGMA wal_checkpoint(TRUNCATE)")
    return index.size_bytes() / 1e6


def _latency(retriever: Retriever, questions: Sequence[str], bar: Bar, label: str) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    retriever.search(questions[0], 5, "rerank")  # warm-up: encoder session, page cache
    with bar(f"query latency, {label}", len(questions) * len(MODES)) as advance:
        for mode in MODES:
            times = []
            for question in questions:
                started = time.perf_counter()
                retriever.search(question, 5, mode)
                times.append(1000 * (time.perf_counter() - started))
                advance()
            out[mode] = {"p50": round(_percentile(times, 0.5), 2), "p95": round(_percentile(times, 0.95), 2),
                         "mean": round(sum(times) / len(times), 2)}
    return out


def _bench_corpus(name: str, path: Path, sources: Any, n_docs: int, questions: Sequence[str], bar: Bar,
                  reuse: bool) -> CorpusBench:
    from slmkit.rag import index as index_module
    from slmkit.rag.ingest import ingest_texts

    collection = name
    reused = False
    if path.exists() and reuse:
        index = Index(path)
        reused = collection in {c.name for c in index.collections()} and \
            index.stats(collection)["documents"] == n_docs
        if not reused:
            index.close()
    if not reused:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        index = Index(path)
    seconds = 0.0
    if not reused:
        with bar(f"ingest {name}", n_docs) as advance:
            report = ingest_texts(sources, collection, index=index, progress=advance)
        seconds = report.seconds
    stats = index.stats(collection)
    size = _checkpointed_mb(index)
    retriever = Retriever(collection, index)
    index_module._VECTOR_CACHE.clear()
    started = time.perf_counter()
    retriever.index.vectors(retriever.collection)
    cold = time.perf_counter() - started
    retriever.warm_up()
    latency = _latency(retriever, questions, bar, name)
    index.close()
    return CorpusBench(name, stats["documents"], stats["chunks"], round(seconds, 1),
                       round(stats["chunks"] / seconds, 1) if seconds else float("nan"), round(size, 1),
                       round(cold, 2), len(questions), latency, reused)


def run(*, synthetic_chunks: int = 100_000, queries: int = 200, reuse: bool = False, squad: bool = True,
        seed: int = 13, bar: Bar = no_bar) -> dict[str, Any]:
    import platform

    started = time.perf_counter()
    corpus = load_squad()
    questions = [q.question for q in random.Random(seed).sample(corpus.questions, queries)]
    bench_dir().mkdir(parents=True, exist_ok=True)
    results = []
    if squad:
        results.append(_bench_corpus("squad-dev", bench_dir() / "squad-dev.sqlite3", squad_sources(corpus),
                                     len(corpus.paragraphs), questions, bar, reuse))
    n_docs = -(-synthetic_chunks // SECTIONS_PER_DOC)
    results.append(_bench_corpus(f"synthetic-{synthetic_chunks}", bench_dir() / f"synthetic-{synthetic_chunks}.sqlite3",
                                 synthetic_documents(corpus.paragraphs, synthetic_chunks, seed), n_docs, questions,
                                 bar, reuse))
    settings = get_settings()
    return {
        "task": "rag-bench", "seed": seed, "cpu_cores": _cores(), "threads": settings.threads,
        "embed_model": settings.embed_model, "vector_store": "float32 BLOBs in SQLite + numpy brute force "
        "(sqlite-vec cannot load: this Python's sqlite3 has no load_extension)",
        "sqlite": _sqlite_version(), "platform": platform.platform(),
        "corpora": [asdict(r) for r in results], "seconds": round(time.perf_counter() - started, 1),
    }


def _cores() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _sqlite_version() -> str:
    import sqlite3

    return sqlite3.sqlite_version


def print_report(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    table = Table(title=f"RAG bench ({report['cpu_cores']} cores, {report['embed_model']}, "
                        f"encoder threads {report['threads']})")
    columns = ("corpus", "chunks", "ingest chunks/s", "index MB", "cold load s")
    modes = ("bm25", "dense", "hybrid", "rerank")
    for column in columns + tuple(f"{m} p50/p95 ms" for m in modes):
        table.add_column(column, justify="left" if column == "corpus" else "right")
    for c in report["corpora"]:
        throughput = "reused" if c["reused_index"] else f"{c['chunks_per_second']:.1f}"
        table.add_row(c["corpus"], f"{c['chunks']:,}", throughput, f"{c['index_mb']:.1f}",
                      f"{c['vectors_cold_load_s']:.2f}",
                      *(f"{c['latency_ms'][m]['p50']:.1f} / {c['latency_ms'][m]['p95']:.1f}" for m in modes))
    console.print(table)
