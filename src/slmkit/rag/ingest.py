"""Ingest a folder (or file) into a collection: parse, chunk, embed what is new, commit per document.

Incremental by content hash: a file whose bytes did not change is not parsed or
embedded again, and a changed file only embeds the chunks whose text is new (the
vectors of unchanged chunks are reused from the index). Files that disappeared
from the folder are deleted from the collection. Each document is one
transaction, so killing the process leaves every file either old or new.

A bad file never stops the run: it is skipped, and the report's ``skipped`` names it
with the reason -- a binary file under a text suffix, an unreadable or special file,
a file over ``max_file_bytes``, a symlink that leads outside the folder, one that
fails to parse. Text and Markdown stream from disk: they are read, chunked and
embedded in batches of ``EMBED_BATCH`` chunks, so the work is linear in the file
and ``on_bytes`` can follow it; the document is still written in one transaction
once all its chunks are embedded.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError
from slmkit.rag.chunking import Chunk, ChunkingConfig, iter_chunks
from slmkit.rag.index import Collection, DocumentRow, Index, NewChunk, check_name
from slmkit.rag.loaders import DocStream, FileFacts, ParsedDoc, inspect_file, open_document, supported

log = logging.getLogger("slmkit.rag")

Progress = Callable[[int], None]

MAX_FILE_BYTES = 256 * 1024 * 1024  # a file's chunks and vectors are held until its one commit (~4x the text)
EMBED_BATCH = 256  # chunks looked up and embedded together: few index queries, a progress step every few seconds


def default_index_path() -> Path:
    return get_settings().data_dir / "rag" / "index.sqlite3"


def open_index(path: Path | None = None) -> Index:
    return Index(path or default_index_path())


@dataclass(frozen=True)
class SourceText:
    """An in-memory document (what the eval and bench ingest); ``source`` is its unique name."""

    source: str
    text: str
    title: str = ""
    kind: str = "text"  # text | markdown | html
    meta: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class IngestReport:
    collection: str
    documents_seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    retagged: int = 0
    deleted: int = 0
    chunks_written: int = 0
    chunks_embedded: int = 0  # encoder work done in this run: zero when nothing changed
    chunks_reused: int = 0  # vectors taken from the index (unchanged or duplicate chunk text)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (path, why)
    seconds: float = 0.0

    @property
    def chunks_per_second(self) -> float:
        return self.chunks_written / self.seconds if self.seconds else 0.0


def _inside(path: Path, root: Path) -> bool:
    return path == root or path.is_relative_to(root)


def _unsupported(path: Path) -> str:
    return f"unsupported file type {path.suffix or '(none)'}"


def _resolve(entry: Path) -> Path:
    try:
        return entry.resolve()
    except (OSError, RuntimeError):  # Python 3.11 raises RuntimeError for a symlink loop
        raise InvalidInputError("symlink loop") from None


def _check_entry(entry: Path, root: Path) -> tuple[Path | None, str]:
    """(the real file, "") for a document under ``root``, else (None, why it is skipped).

    A symlink counts as the file it leads to: inside the folder it is read once (under the
    target's path), outside it is skipped -- ingesting a folder must not read beyond it."""
    try:
        target = _resolve(entry)
    except InvalidInputError as exc:
        return None, str(exc)
    if entry.is_symlink():
        if not target.exists():
            return None, "broken symlink"
        if not _inside(target, root):
            return None, f"symlink to {target}, outside {root}"
    if not target.is_file():
        return None, "not a regular file"  # a FIFO would block the read forever
    if not supported(target):
        return None, _unsupported(target)
    return target, ""


def scan(path: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Supported files under ``path`` (sorted, resolved, each once), and the entries skipped with the reason.

    Hidden files and folders (dot-names) are not documents and are passed over silently. Symlinks
    are followed only when they resolve inside ``path``; one leading outside it is skipped (and
    reported), so a link cannot pull in files the folder does not hold. A symlinked folder inside
    is not walked twice: its files are read where they really are."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InvalidInputError(f"{path} does not exist")
    if not path.is_dir():
        if not path.is_file():
            return [], [(str(path), "not a regular file")]
        if not supported(path):
            return [], [(str(path), _unsupported(path))]
        return [path.resolve()], []  # named on its own: read wherever a symlink leads
    root = path.resolve()
    found: set[Path] = set()
    skipped: list[tuple[str, str]] = []
    def unreadable(exc: OSError) -> None:  # os.walk would pass over a folder it cannot list in silence
        skipped.append((str(exc.filename), f"unreadable: {exc.strerror or exc}"))

    for folder, dirs, names in os.walk(path, onerror=unreadable):  # symlinked folders are not descended into
        walked = []
        for name in sorted(dirs):
            entry = Path(folder) / name
            if name.startswith("."):
                continue
            if entry.is_symlink():
                try:
                    target = _resolve(entry)
                except InvalidInputError as exc:
                    skipped.append((str(entry), str(exc)))
                    continue
                if not _inside(target, root):
                    skipped.append((str(entry), f"symlink to {target}, outside {root}"))
                continue
            walked.append(name)
        dirs[:] = walked
        for name in sorted(names):
            if name.startswith("."):
                continue
            entry = Path(folder) / name
            real, why = _check_entry(entry, root)
            if real is None:
                skipped.append((str(entry), why))
            else:
                found.add(real)
    return sorted(found), skipped


def _batches(items: Iterable[Chunk], size: int) -> Iterator[list[Chunk]]:
    batch: list[Chunk] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _embed_batch(index: Index, collection: Collection, chunks: Sequence[Chunk], embed: Any,
                 vectors: dict[str, bytes], report: IngestReport) -> list[NewChunk]:
    """Rows for a batch of one document's chunks. ``vectors`` (text hash -> vector) spans the whole
    document, so a chunk text repeated anywhere in it is embedded once; the index supplies vectors
    already computed for this collection (the unchanged part of an edited file, a copied file)."""
    import numpy as np

    hashes = [c.hash for c in chunks]
    unknown = [h for h in dict.fromkeys(hashes) if h not in vectors]
    if unknown:
        vectors.update(index.known_vectors(collection.name, unknown))
    todo: dict[str, str] = {}
    limit = get_settings().max_text_chars
    for chunk, h in zip(chunks, hashes, strict=True):
        if h not in vectors:
            # The encoder reads the first 256 tokens only; cutting a chunk made of one huge "word"
            # (a base64 image, a minified line) keeps the embed skill's size check from refusing it.
            todo.setdefault(h, chunk.embed_text[:limit])
    if todo:
        matrix = embed.vectors(list(todo.values()))
        for h, row in zip(todo, matrix, strict=True):
            vectors[h] = np.asarray(row, dtype="<f4").tobytes()
    report.chunks_embedded += len(todo)
    report.chunks_reused += len(chunks) - len(todo)
    return [NewChunk(c.ordinal, c.heading, c.page, c.text, h, vectors[h]) for c, h in zip(chunks, hashes, strict=True)]


def _store(index: Index, collection: Collection, source: str, doc: DocStream | ParsedDoc, content_hash: str, size: int,
           mtime: float, meta: Mapping[str, Any], tags: Sequence[str], embed: Any, chunking: ChunkingConfig,
           report: IngestReport, after_batch: Callable[[], None] | None = None) -> None:
    """Chunk and embed ``doc`` batch by batch as it is read, then write it in one transaction: an
    interrupted or failed document leaves its previous version in the index untouched."""
    rows: list[NewChunk] = []
    vectors: dict[str, bytes] = {}
    for batch in _batches(iter_chunks(doc.title, doc.blocks, chunking), EMBED_BATCH):
        rows.extend(_embed_batch(index, collection, batch, embed, vectors, report))
        if after_batch:
            after_batch()
    index.replace_document(collection, source, title=doc.title, content_hash=content_hash, size=size, mtime=mtime,
                           meta={"kind": doc.kind, **dict(meta)}, tags=tags, chunks=rows)
    report.chunks_written += len(rows)


def _prepare(index: Index, collection: str, meta: Mapping[str, Any] | None, tags: Sequence[str] | None,
             embed_model: str | None) -> tuple[Collection, Any]:
    """The collection (created, or re-embedded first when ``embed_model`` names another encoder than
    the one it has) and its encoder. ``embed_model`` None: the collection's own, or the default."""
    from slmkit.rag.embedders import default_model, embedder_model
    from slmkit.rag.reembed import check_available, reembed
    from slmkit.skills.embed import Embed

    check_name(collection)
    existing = next((c for c in index.collections() if c.name == collection), None)
    model = embedder_model(embed_model) or (existing.embed_model if existing else default_model())
    check_available(model)
    if existing is not None and existing.embed_model != model:
        reembed(index, collection, model)  # the CLI runs it first, behind a progress bar
    embed = Embed(model)
    return index.ensure_collection(collection, embed.model, embed.dim, meta, tags), embed


@dataclass
class _Meter:
    """One file's bytes, credited to ``on_bytes`` as its chunks are embedded (the slow part), so a
    progress bar in bytes moves evenly; every file credits exactly its size, read or skipped."""

    on_bytes: Progress | None
    size: int
    read: int = 0  # bytes the parser has pulled so far
    credited: int = 0

    def reading(self, n: int) -> None:
        self.read += n

    def sync(self) -> None:
        self._credit(min(self.read, self.size))

    def finish(self) -> None:
        self._credit(self.size)

    def _credit(self, upto: int) -> None:
        if self.on_bytes and upto > self.credited:
            self.on_bytes(upto - self.credited)
            self.credited = upto


@dataclass
class _Run:
    """What every file of one ``ingest`` call shares."""

    index: Index
    collection: Collection
    embed: Any
    root: Path
    existing: dict[str, DocumentRow]
    meta: Mapping[str, Any]
    tags: list[str]
    chunking: ChunkingConfig
    max_file_bytes: int | None
    report: IngestReport


def _ingest_file(run: _Run, file: Path, meter: _Meter) -> None:
    """Bring one file's document up to date. Raises ``InvalidInputError`` or ``OSError`` when the file
    is to be skipped; nothing of it has been written then."""
    stat = file.stat()
    if run.max_file_bytes is not None and stat.st_size > run.max_file_bytes:
        raise InvalidInputError(f"{_amount(stat.st_size)}, over the limit of {_amount(run.max_file_bytes)} "
                                "(max_file_bytes)")
    facts: FileFacts = inspect_file(file, text_checks=False)
    source = file.as_posix()
    relative = file.relative_to(run.root).as_posix() if run.root.is_dir() else file.name
    doc_meta = {**dict(run.meta), "path": relative, "ext": file.suffix.lower()}
    old = run.existing.get(source)
    if old is not None and old.content_hash == facts.digest:
        if _retag(run.index, run.collection, old.id, doc_meta, run.tags):
            run.report.retagged += 1
        else:
            run.report.unchanged += 1
        return
    facts = inspect_file(file)  # now the text checks too: a second read, cheap next to embedding
    doc = open_document(file, facts, meter.reading)
    _store(run.index, run.collection, source, doc, facts.digest, facts.size, stat.st_mtime, doc_meta, run.tags,
           run.embed, run.chunking, run.report, meter.sync)
    if old is None:
        run.report.added += 1
    else:
        run.report.updated += 1


def _amount(size: int) -> str:
    return f"{size:,} bytes" if size < 2**20 else f"{size / 2**20:,.1f} MB"


def _skip_reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return f"unreadable: {exc.strerror or exc}"
    if isinstance(exc, InvalidInputError):
        return str(exc)
    return f"cannot parse ({type(exc).__name__}: {exc})"  # a parser's own ValueError or UnicodeError


def ingest(
    path: Path | str,
    collection: str,
    *,
    meta: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    index: Index | None = None,
    files: Sequence[Path] | None = None,
    delete_missing: bool = True,
    embed_model: str | None = None,
    chunking: ChunkingConfig | None = None,
    progress: Progress | None = None,
    on_bytes: Progress | None = None,
    max_file_bytes: int | None = MAX_FILE_BYTES,
) -> IngestReport:
    """Bring ``collection`` in step with the files under ``path``.

    ``embed_model`` (a catalog name or an ``EMBEDDERS`` short name) chooses the collection's encoder;
    naming another than the one it has re-embeds it first (``slmkit.rag.reembed``); None keeps it.
    ``meta`` is stored on the collection and on every document of this run (filterable);
    ``tags`` are access tags (see ``index.Filter``). ``files`` lets a caller that already
    scanned (to size a progress bar) skip the second walk. ``progress(1)`` follows the files,
    ``on_bytes(n)`` the bytes of input done (every file's size is credited once, skipped or not).

    A file that cannot be ingested is skipped, not fatal: ``report.skipped`` lists (path, reason)
    for binary or undecodable text files, unreadable or special files, files over
    ``max_file_bytes`` (``None``: no limit), symlinks that resolve outside the folder, and
    files that fail to parse. A skipped file that was ingested before keeps its old version.
    """
    started = time.perf_counter()
    root = Path(path).expanduser()
    if files is None:
        files, skipped = scan(root)
    else:
        skipped = []
    root = root.resolve()
    own = index is None
    index = index or open_index()
    try:
        coll, embed = _prepare(index, collection, meta, tags, embed_model)
        report = IngestReport(collection, skipped=list(skipped))
        for message in skipped:
            log.info("skipped %s: %s", *message)  # info: the report lists them, callers show them
        run = _Run(index, coll, embed, root, index.documents(collection), dict(meta or {}), sorted(set(tags or [])),
                   chunking or ChunkingConfig(), max_file_bytes, report)
        seen: set[str] = set()
        for given in files:
            source = Path(given).as_posix()
            meter = _Meter(on_bytes, _size(given))
            try:
                file = _resolve(Path(given).expanduser())
                source = file.as_posix()
                if source in seen:
                    continue  # the same file twice in ``files`` (through a symlink): read once
                seen.add(source)
                report.documents_seen += 1
                if root.is_dir() and not _inside(file, root):
                    raise InvalidInputError(f"outside {root} (a symlink leads there)")
                _ingest_file(run, file, meter)
            except (OSError, ValueError) as exc:  # InvalidInputError is a ValueError
                reason = _skip_reason(exc)
                report.skipped.append((source, reason))
                log.info("skipped %s: %s", source, reason)
            finally:
                meter.finish()
                if progress:
                    progress(1)
        if delete_missing:
            # Files skipped while reading count as present: one unreadable today keeps its old version.
            prefix = root.as_posix().rstrip("/") + "/"
            gone = [s for s in run.existing
                    if s not in seen and (s.startswith(prefix) if root.is_dir() else s == root.as_posix())]
            report.deleted = index.delete_documents(collection, gone)
        report.seconds = time.perf_counter() - started
        return report
    finally:
        if own:
            index.close()


def _size(path: Path) -> int:
    """The size a progress bar counted for this file (0 if it is gone)."""
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


def _retag(index: Index, collection: Collection, doc_id: int, meta: Mapping[str, Any], tags: Sequence[str]) -> bool:
    """Metadata or access tags changed but not the content: update the row, embed nothing."""
    import json

    row = index.query("SELECT meta, tags FROM documents WHERE id = ?", (doc_id,))[0]
    old_meta = json.loads(row["meta"])
    new_meta = {"kind": old_meta.get("kind", "text"), **dict(meta)}
    if old_meta == new_meta and json.loads(row["tags"]) == list(tags):
        return False
    with index.transaction() as db:
        db.execute("UPDATE documents SET meta = ?, tags = ? WHERE id = ?", (json.dumps(new_meta), json.dumps(list(tags)), doc_id))
        db.execute("UPDATE collections SET generation = generation + 1 WHERE name = ?", (collection.name,))
    return True


def ingest_texts(
    items: Iterable[SourceText],
    collection: str,
    *,
    meta: Mapping[str, Any] | None = None,
    tags: Sequence[str] | None = None,
    index: Index | None = None,
    embed_model: str | None = None,
    chunking: ChunkingConfig | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest in-memory documents (same chunking, de-duplication and transactions as files)."""
    from slmkit.rag.loaders import parse_html, parse_markdown, parse_text

    started = time.perf_counter()
    own = index is None
    index = index or open_index()
    try:
        coll, embed = _prepare(index, collection, meta, tags, embed_model)
        report = IngestReport(collection)
        existing = index.documents(collection)
        parsers = {"text": parse_text, "markdown": parse_markdown, "html": parse_html}
        chunking = chunking or ChunkingConfig()
        for item in items:
            if item.kind not in parsers:
                raise InvalidInputError(f"kind must be one of {', '.join(parsers)}, not {item.kind!r}")
            report.documents_seen += 1
            digest = hashlib.sha256(item.text.encode("utf-8")).hexdigest()
            old = existing.get(item.source)
            if old is not None and old.content_hash == digest:
                report.unchanged += 1
            else:
                doc = parsers[item.kind](item.text, item.title)
                _store(index, coll, item.source, doc, digest, len(item.text), 0.0, {**dict(meta or {}), **item.meta},
                       sorted(set(tags or [])), embed, chunking, report)
                report.added += old is None
                report.updated += old is not None
            if progress:
                progress(1)
        report.seconds = time.perf_counter() - started
        return report
    finally:
        if own:
            index.close()
