"""`slmkit ingest` and `slmkit ask`: RAG from the command line.

Commands import the RAG layer in their body: it pulls in numpy, sqlite-vec and the parsers, and
`slmkit --help` should not pay for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from slmkit.cli._io import console, out
from slmkit.errors import InvalidInputError

if TYPE_CHECKING:
    from slmkit.rag.index import Index


def _pairs(values: list[str] | None, option: str) -> dict[str, Any]:
    """``key=value`` options -> dict; a value repeated for one key becomes a list (any of them matches)."""
    pairs: dict[str, Any] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"{option} takes key=value, got {item!r}")
        key, value = key.strip(), value.strip()
        if key in pairs:
            pairs[key] = [*(pairs[key] if isinstance(pairs[key], list) else [pairs[key]]), value]
        else:
            pairs[key] = value
    return pairs


def _index(path: Path | None) -> Index:
    from slmkit.rag.ingest import open_index  # numpy and sqlite-vec: only when a command opens the index

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
    embedder: Annotated[str | None, typer.Option("--embedder", help="Encoder of the collection: minilm (default, "
                                                 "fast), nomic or mpnet (stronger, slower; `make nomic`, `make "
                                                 "mpnet`). Naming another than the collection's re-embeds it; "
                                                 "omitted: keep the collection's.")] = None,
    index_path: IndexOption = None,
) -> None:
    """Ingest a folder: only new or changed files are parsed and embedded; deleted files are removed.
    A file that cannot be ingested (binary, unreadable, too large, a symlink leading outside the
    folder) is skipped and named with the reason; the rest is ingested."""
    from slmkit.cli._io import progress_bar
    from slmkit.rag.embedders import embedder_model
    from slmkit.rag.ingest import ingest, scan
    from slmkit.rag.reembed import reembed

    model = embedder_model(embedder)
    files, skipped = scan(path)
    for name, why in skipped:
        console.print(f"[yellow]skipped[/yellow] {escape(name)}: {escape(why)}")
    index = _index(index_path)
    try:
        if model and any(c.name == collection for c in index.collections()):
            redone = reembed(index, collection, model, progress_bar)  # resumes an interrupted one
            if redone.changed:
                console.print(f"{escape(collection)}: re-embedded {redone.texts} chunk texts with {model} "
                              f"(was {redone.old_model}); fitted fusion weights reset, re-run `slmkit rag tune`")
        with _bytes_bar(f"ingest into {collection}", files) as (on_bytes, on_file):
            report = ingest(path, collection, meta=_pairs(meta, "--meta"), tags=tag or [], index=index, files=files,
                            delete_missing=not keep_missing, progress=on_file, on_bytes=on_bytes, embed_model=model)
        stats = index.stats(collection)
        embed_model = index.collection(collection).embed_model
    finally:
        index.close()
    for name, why in report.skipped:  # files that could not be read or parsed (the scan's skips are above)
        console.print(f"[yellow]skipped[/yellow] {escape(name)}: {escape(why)}")
    every_skip = [*skipped, *report.skipped]
    summary = {k: v for k, v in report.__dict__.items() if k != "skipped"}
    summary.update(skipped=len(every_skip), skipped_files=[{"path": name, "reason": why} for name, why in every_skip],
                   seconds=round(report.seconds, 2), chunks_per_second=round(report.chunks_per_second, 1),
                   collection_documents=stats["documents"], collection_chunks=stats["chunks"], embed_model=embed_model,
                   index_bytes=stats["bytes"], index=str(index.path))
    out.print_json(json.dumps(summary))


@contextmanager
def _bytes_bar(description: str, files: list[Path]) -> Iterator[tuple[Callable[[int], None], Callable[[int], None]]]:
    """A rich bar on stderr over the bytes of ``files`` (one large file moves it too, not only the
    file count); yields (advance by n bytes, advance by n files)."""
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn, TransferSpeedColumn)

    total = 0
    for file in files:
        try:
            total += file.stat().st_size
        except OSError:
            pass  # gone since the scan: ingest skips it and credits nothing
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TextColumn("{task.fields[done]}/{task.fields[files]} files"), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console, transient=False) as bar:
        task = bar.add_task(description, total=total, done=0, files=len(files))
        done = 0

        def on_bytes(n: int) -> None:
            bar.advance(task, n)

        def on_file(n: int = 1) -> None:
            nonlocal done
            done += n
            bar.update(task, done=done)

        yield on_bytes, on_file


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
            out.print_json(json.dumps(rows, ensure_ascii=False))
            return
        with console.status("retrieving and answering..."):
            result = answerer.ask(question, flt=flt, max_tokens=max_tokens)
    finally:
        index.close()
    if as_json:
        out.print_json(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    out.print(result.text, markup=False, highlight=False)
    shown = result.citations or (result.sources if result.found else [])
    for c in shown:
        where_ = f", page {c.page}" if c.page else ""
        heading = f" ({c.heading})" if c.heading else ""
        out.print(f"[{c.n}] {c.source}, chunk {c.chunk}{where_}{heading}", markup=False, highlight=False)
    console.print(f"confidence {result.confidence:.2f} (threshold {result.threshold:.2f}); "
                     f"retrieval {result.retrieval_ms:.0f} ms, generation {result.generation_ms:.0f} ms"
                     + (f", {result.model}" if result.model else ""))


rag_app = typer.Typer(help="Look after a RAG collection's retrieval.", no_args_is_help=True)
rag_app.command("ingest")(ingest_cmd)  # `slmkit rag ingest` = `slmkit ingest`


@rag_app.command("tune")
def tune_cmd(
    collection: Annotated[str, typer.Option("--collection", "-c")],
    questions: Annotated[Path, typer.Option("--questions", help="JSON lines {\"question\": ..., \"source\": ...} "
                                            "(or \"sources\": [...]): questions of this collection and the "
                                            "document(s) that answer them, named as `ask --retrieve-only` shows.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Report, do not store the weights.")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="Forget the collection's fitted weights.")] = False,
    index_path: IndexOption = None,
) -> None:
    """Fit the collection's fusion weights (dense vs BM25, and the re-ranker's) on its own questions and
    store them in the collection; `ask`, the gateway and the planner then retrieve with them."""
    from rich.table import Table

    from slmkit.cli._io import progress_bar
    from slmkit.rag import tune
    from slmkit.rag.retrieve import TUNED_KEY, Retriever

    index = _index(index_path)
    try:
        if reset:
            index.set_collection_meta(collection, TUNED_KEY, None)
            console.print(f"{escape(collection)}: fitted weights removed; the defaults apply")
            return
        dev = tune.read_questions(questions)
        retriever = Retriever(collection, index)
        with progress_bar(f"tune {collection} on {len(dev)} questions", len(dev)) as advance:
            result = tune.fit(retriever, dev, progress=advance)
        if not dry_run:
            tune.save(retriever, result)
    finally:
        index.close()
    table = Table(title=f"{collection}: {result.questions} questions; weights {result.default} -> {result.chosen}"
                        + (" (not stored: --dry-run)" if dry_run else ""))
    for column in ("mode", "recall@1", "recall@5", "MRR@20"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    for name, s in result.scores.items():
        table.add_row(name, f"{s.recall_at_1:.3f}", f"{s.recall_at_5:.3f}", f"{s.mrr:.3f}")
    console.print(table)
    out.print_json(json.dumps(result.to_dict()))
