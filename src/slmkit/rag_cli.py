"""`slmkit ingest`, `slmkit ask`, `slmkit eval rag` and `slmkit bench rag`: RAG from the command line.

The functions are plain typer commands; cli.py registers them:
    app.command("ingest")(ingest_cmd); app.command("ask")(ask_cmd)
    eval_app.command("rag")(eval_rag_cmd); bench_app.command("rag")(bench_rag_cmd)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from slmkit.errors import InvalidInputError


def _ui():  # noqa: ANN202
    from slmkit import cli  # here, not at import: cli imports this module

    return cli


def _pairs(values: list[str] | None, option: str) -> dict[str, Any]:
    """``key=value`` options -> dict; a value repeated for one key becomes a list (any of them matches)."""
    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"{option} takes key=value, got {item!r}")
        key, value = key.strip(), value.strip()
        if key in out:
            out[key] = [*(out[key] if isinstance(out[key], list) else [out[key]]), value]
        else:
            out[key] = value
    return out


def _index(path: Path | None) -> Any:
    from slmkit.rag.ingest import open_index

    return open_index(path)


IndexOption = Annotated[Path | None, typer.Option("--index", help="Index file; default <data_dir>/rag/index.sqlite3.")]


def ingest_cmd(
    path: Annotated[Path, typer.Argument(help="A folder (walked recursively) or one file: .txt .md .html .pdf")],
    collection: Annotated[str, typer.Option("--collection", "-c", help="Collection to create or bring up to date.")],
    meta: Annotated[list[str] | None, typer.Option("--meta", help="key=value stored on the collection and on "
                                                    "every document of this run; filter with `ask --where`.")] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", help="Access tag for these documents (repeatable); "
                                                  "tagged documents are only retrieved with `ask --access TAG`.")] = None,
    keep_missing: Annotated[bool, typer.Option("--keep-missing", help="Keep documents whose files are gone.")] = False,
    index_path: IndexOption = None,
) -> None:
    """Ingest a folder: only new or changed files are parsed and embedded; deleted files are removed."""
    from slmkit.rag.ingest import ingest, scan

    ui = _ui()
    files, skipped = scan(path)
    for name, why in skipped:
        ui.console.print(f"[yellow]skipped[/yellow] {escape(name)}: {escape(why)}")
    index = _index(index_path)
    try:
        with ui.progress_bar(f"ingest into {collection}", len(files)) as advance:
            report = ingest(path, collection, meta=_pairs(meta, "--meta"), tags=tag or [], index=index, files=files,
                            delete_missing=not keep_missing, progress=advance)
        stats = index.stats(collection)
    finally:
        index.close()
    for name, why in report.skipped:  # files that could not be read or parsed (the scan's skips are above)
        ui.console.print(f"[yellow]skipped[/yellow] {escape(name)}: {escape(why)}")
    summary = {k: v for k, v in report.__dict__.items() if k != "skipped"}
    summary.update(skipped=len(skipped) + len(report.skipped), seconds=round(report.seconds, 2), collection_documents=stats["documents"],
                   collection_chunks=stats["chunks"], index_bytes=stats["bytes"], index=str(index.path))
    ui.out.print_json(json.dumps(summary))


def ask_cmd(
    question: Annotated[str, typer.Argument(help="The question.")],
    collection: Annotated[str, typer.Option("--collection", "-c")],
    k: Annotated[int, typer.Option(min=1, max=20, help="Chunks given to the generator.")] = 4,
    threshold: Annotated[float | None, typer.Option(min=0.0, max=1.0, help="Refuse below this retrieval "
                                                    "confidence (default: the calibrated one).")] = None,
    tier: Annotated[str | None, typer.Option(help="Answer with this router tier (e.g. large) instead of the "
                                             "local small generator.")] = None,
    model: Annotated[str | None, typer.Option(help="Local generator (catalog name).")] = None,
    where: Annotated[list[str] | None, typer.Option("--where", help="Metadata filter key=value (repeatable).")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="Only files matching this glob.")] = None,
    access: Annotated[list[str] | None, typer.Option("--access", help="Your access tags: tagged documents are "
                                                     "retrieved only when you hold one of their tags.")] = None,
    retrieve_only: Annotated[bool, typer.Option("--retrieve-only", help="Show the ranked chunks, no answer.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole result as JSON.")] = False,
    max_tokens: Annotated[int, typer.Option(min=8, max=1024)] = 256,
    threads: Annotated[int | None, typer.Option(min=1, help="Generator threads (1 is faster when something "
                                                "else holds a core).")] = None,
    index_path: IndexOption = None,
) -> None:
    """Answer from a collection with numbered citations (file and chunk); 'Not found in the documents.' when it cannot."""
    from slmkit.rag.answer import Answerer
    from slmkit.rag.index import Filter

    ui = _ui()
    index = _index(index_path)
    try:
        flt = Filter(meta=_pairs(where, "--where"), sources=source, access=access)
        answerer = Answerer(collection, index=index, model=model, tier=tier, threshold=threshold, k=k,
                            threads=threads)
        if retrieve_only:
            hits = answerer.retriever.search(question, k, "rerank", flt)
            rows = [{"rank": n, "source": h.chunk.source, "chunk": h.chunk.ordinal, "heading": h.chunk.heading,
                     "page": h.chunk.page, "score": round(h.score, 4), "text": h.chunk.text}
                    for n, h in enumerate(hits, start=1)]
            ui.out.print_json(json.dumps(rows, ensure_ascii=False))
            return
        with ui.console.status("retrieving and answering..."):
            result = answerer.ask(question, flt=flt, max_tokens=max_tokens)
    finally:
        index.close()
    if as_json:
        ui.out.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    ui.out.print(result.text, markup=False, highlight=False)
    shown = result.citations or (result.sources if result.found else [])
    for c in shown:
        where_ = f", page {c.page}" if c.page else ""
        heading = f" ({c.heading})" if c.heading else ""
        ui.out.print(f"[{c.n}] {c.source}, chunk {c.chunk}{where_}{heading}", markup=False, highlight=False)
    ui.console.print(f"confidence {result.confidence:.2f} (threshold {result.threshold:.2f}); "
                     f"retrieval {result.retrieval_ms:.0f} ms, generation {result.generation_ms:.0f} ms"
                     + (f", {result.model}" if result.model else ""))


def eval_rag_cmd(
    dataset: Annotated[str, typer.Option(help="Only squad (SQuAD v1.1 dev) for now.")] = "squad",
    questions: Annotated[int | None, typer.Option(min=10, help="Retrieval on a seeded sample instead of all "
                                                   "10,565 questions.")] = None,
    answer_sample: Annotated[int, typer.Option(min=0, help="Seeded questions answered per generator (0: none).")] = 300,
    refusal_sample: Annotated[int, typer.Option(min=0, help="Not-in-collection questions for the small "
                                                "generator's grounded refusal.")] = 50,
    generators: Annotated[str, typer.Option(help="Comma-separated local generators.")]
    = "qwen2.5-coder-0.5b,qwen2.5-coder-1.5b",
    threads: Annotated[int | None, typer.Option(min=1, help="Generator threads; 1 is faster when something "
                                                "else holds a core.")] = None,
    no_retrieval: Annotated[bool, typer.Option("--no-retrieval", help="Skip the retrieval metrics.")] = False,
    cached_only: Annotated[str, typer.Option(help="Comma-separated generators scored only on answers cached by "
                                             "earlier runs (n says how many).")] = "",
    seed: int = 13,
    out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None,
) -> None:
    """Recall@1/5/20 and MRR for BM25, dense, hybrid, hybrid+rerank; refusal calibration; answer EM/F1 per generator."""
    from slmkit.evals.report import default_out, write_json
    from slmkit.rag import eval as rag_eval

    ui = _ui()
    if dataset != "squad":
        raise InvalidInputError(f"unknown RAG data set {dataset!r}; available: squad")
    names = [g.strip() for g in generators.split(",") if g.strip()]
    report = rag_eval.run(retrieval=not no_retrieval, questions=questions, answer_sample=answer_sample,
                          refusal_sample=refusal_sample, generators=names, seed=seed, threads=threads,
                          bar=ui.progress_bar, cached_only=[g.strip() for g in cached_only.split(",") if g.strip()])
    rag_eval.print_report(report, ui.out)
    path = write_json(out_path or default_out("eval", "rag-squad"), report)
    ui.console.print(f"report: {path}")


def bench_rag_cmd(
    synthetic_chunks: Annotated[int, typer.Option(min=1000, help="Size of the synthetic corpus.")] = 100_000,
    queries: Annotated[int, typer.Option(min=10, help="Timed queries per corpus.")] = 200,
    reuse: Annotated[bool, typer.Option("--reuse", help="Keep a synthetic index already built by an earlier "
                                        "run (query timings only for it).")] = False,
    skip_squad: Annotated[bool, typer.Option("--skip-squad", help="Only the synthetic corpus.")] = False,
    seed: int = 13,
    out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None,
) -> None:
    """Ingest throughput, index size and query latency p50/p95 on SQuAD dev and a synthetic corpus."""
    from slmkit.evals.report import default_out, write_json
    from slmkit.rag import bench

    ui = _ui()
    report = bench.run(synthetic_chunks=synthetic_chunks, queries=queries, reuse=reuse, squad=not skip_squad,
                       seed=seed, bar=ui.progress_bar)
    bench.print_report(report, ui.out)
    path = write_json(out_path or default_out("bench", "rag"), report)
    ui.console.print(f"report: {path}")
