"""Ingest a folder (or file) into a collection: parse, chunk, embed what is new, commit per document.

Incremental by content hash: a file whose bytes did not change is not parsed or
embedded again, and a changed file only embeds the chunks whose text is new (the
vectors of unchanged chunks are reused from the index). Files that disappeared
from the folder are deleted from the collection. Each document is one
transaction, so killing the process leaves every file either old or new.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError, SlmkitError
from slmkit.rag.chunking import Chunk, ChunkingConfig, chunk_document
from slmkit.rag.index import Collection, Index, NewChunk, check_name
from slmkit.rag.loaders import ParsedDoc, parse_bytes, supported

log = logging.getLogger("slmkit.rag")

Progress = Callable[[int], None]


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


def scan(path: Path) -> tuple[list[Path], list[tuple[str, str]]]:
    """Supported files under ``path`` (sorted), and the files skipped with the reason.
    Hidden files and folders (dot-names) are not documents and are passed over silently."""
    path = Path(path).expanduser()
    if not path.exists():
        raise InvalidInputError(f"{path} does not exist")
    if path.is_file():
        if not supported(path):
            return [], [(str(path), f"unsupported file type {path.suffix or '(none)'}")]
        return [path.resolve()], []
    files: list[Path] = []
    skipped: list[tuple[str, str]] = []
    for root, dirs, names in os.walk(path):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if name.startswith("."):
                continue
            file = Path(root) / name
            if supported(file):
                files.append(file.resolve())
            else:
                skipped.append((str(file), f"unsupported file type {file.suffix or '(none)'}"))
    return files, skipped


def _vectors_for(index: Index, collection: Collection, chunks: Sequence[Chunk], embed: Any,
                 report: IngestReport) -> list[bytes]:
    import numpy as np

    hashes = [c.hash for c in chunks]
    known = index.known_vectors(collection.name, hashes)
    todo = [i for i, h in enumerate(hashes) if h not in known]
    # Identical chunk texts inside this document are embedded once too.
    unique: dict[str, int] = {}
    for i in todo:
        unique.setdefault(hashes[i], i)
    if unique:
        matrix = embed.vectors([chunks[i].embed_text for i in unique.values()])
        for h, row in zip(unique, matrix, strict=True):
            known[h] = np.asarray(row, dtype="<f4").tobytes()
        report.chunks_embedded += len(unique)
    report.chunks_reused += len(chunks) - len(unique)
    return [known[h] for h in hashes]


def _store(index: Index, collection: Collection, source: str, doc: ParsedDoc, content_hash: str, size: int,
           mtime: float, meta: Mapping[str, Any], tags: Sequence[str], embed: Any, chunking: ChunkingConfig,
           report: IngestReport) -> None:
    chunks = chunk_document(doc, chunking)
    vectors = _vectors_for(index, collection, chunks, embed, report) if chunks else []
    rows = [NewChunk(c.ordinal, c.heading, c.page, c.text, c.hash, v) for c, v in zip(chunks, vectors, strict=True)]
    index.replace_document(collection, source, title=doc.title, content_hash=content_hash, size=size, mtime=mtime,
                           meta={"kind": doc.kind, **dict(meta)}, tags=tags, chunks=rows)
    report.chunks_written += len(rows)


def _prepare(index: Index, collection: str, meta: Mapping[str, Any] | None, tags: Sequence[str] | None,
             embed_model: str | None) -> tuple[Collection, Any]:
    from slmkit.skills.embed import Embed

    check_name(collection)
    embed = Embed(embed_model)
    return index.ensure_collection(collection, embed.model, embed.dim, meta, tags), embed


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
) -> IngestReport:
    """Bring ``collection`` in step with the files under ``path``.

    ``meta`` is stored on the collection and on every document of this run (filterable);
    ``tags`` are access tags (see ``index.Filter``). ``files`` lets a caller that already
    scanned (to size a progress bar) skip the second walk.
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
            log.warning("skipped %s: %s", *message)
        existing = index.documents(collection)
        doc_tags = sorted(set(tags or []))
        chunking = chunking or ChunkingConfig()
        for file in files:
            source = file.as_posix()
            report.documents_seen += 1
            try:
                data = file.read_bytes()
                stat = file.stat()
            except OSError as exc:
                report.skipped.append((source, f"unreadable: {exc.strerror or exc}"))
                log.warning("skipped %s: %s", source, exc)
                if progress:
                    progress(1)
                continue
            digest = hashlib.sha256(data).hexdigest()
            relative = file.relative_to(root).as_posix() if root.is_dir() else file.name
            doc_meta = {**dict(meta or {}), "path": relative, "ext": file.suffix.lower()}
            old = existing.get(source)
            if old is not None and old.content_hash == digest:
                if _retag(index, coll, old.id, doc_meta, doc_tags):
                    report.retagged += 1
                else:
                    report.unchanged += 1
            else:
                try:
                    doc = parse_bytes(data, file.suffix, source)
                except SlmkitError as exc:
                    report.skipped.append((source, str(exc)))
                    log.warning("skipped %s: %s", source, exc)
                    if progress:
                        progress(1)
                    continue
                _store(index, coll, source, doc, digest, len(data), stat.st_mtime, doc_meta, doc_tags, embed,
                       chunking, report)
                if old is None:
                    report.added += 1
                else:
                    report.updated += 1
            if progress:
                progress(1)
        if delete_missing:
            seen = {f.as_posix() for f in files}
            prefix = root.as_posix().rstrip("/") + "/"
            gone = [s for s in existing if s not in seen and (s.startswith(prefix) if root.is_dir() else s == root.as_posix())]
            report.deleted = index.delete_documents(collection, gone)
        report.seconds = time.perf_counter() - started
        return report
    finally:
        if own:
            index.close()


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
