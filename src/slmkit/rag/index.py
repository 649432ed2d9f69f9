"""The RAG index: one SQLite file holding documents, chunks, an FTS5 (BM25) index and the vectors.

Why vectors are BLOBs and not sqlite-vec: the Python on these machines is built
without loadable-extension support (``sqlite3.Connection.enable_load_extension`` is
missing), so sqlite-vec 0.1.9 cannot be loaded. Vectors therefore live in the
``chunks`` table as float32 BLOBs, in the same transactions as the text, and
queries run a brute-force product over a numpy matrix cached per process (what
sqlite-vec's ``vec0`` does too, in C). The cache is keyed by a per-collection
generation counter that every write bumps, so a reader never serves stale rows.

Durability: WAL journal, one ``BEGIN IMMEDIATE`` transaction per document
(delete old chunks, insert new ones, bump the generation). A process killed at
any point leaves every document either as it was before or fully replaced.
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmkit.errors import InvalidInputError
from slmkit.store.sqlite import use_wal

SCHEMA_VERSION = 1
# Where a collection keeps its fitted fusion weights (collection metadata; slmkit.rag.tune writes them,
# a re-embed drops them): here, below both retrieve and ingest, which read it.
TUNED_KEY = "retrieval"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
_META_KEY = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS collections(
    name TEXT PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    embed_model TEXT NOT NULL,
    dim INTEGER NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    tags TEXT NOT NULL DEFAULT '[]',
    created REAL NOT NULL,
    generation INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS documents(
    id INTEGER PRIMARY KEY,
    collection TEXT NOT NULL REFERENCES collections(name),
    source TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL DEFAULT 0,
    mtime REAL NOT NULL DEFAULT 0,
    meta TEXT NOT NULL DEFAULT '{}',
    tags TEXT NOT NULL DEFAULT '[]',
    ingested REAL NOT NULL,
    UNIQUE(collection, source)
);
CREATE TABLE IF NOT EXISTS chunks(
    id INTEGER PRIMARY KEY,
    doc_id INTEGER NOT NULL REFERENCES documents(id),
    collection TEXT NOT NULL,
    ctoken TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    heading TEXT NOT NULL DEFAULT '',
    page INTEGER,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_collection ON chunks(collection, id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(collection, text_hash);
-- External-content FTS5: the text is stored once (in chunks); the triggers keep the index in step
-- inside the same transaction. ctoken is a one-word collection tag so a collection filter is an
-- exact term match (weight 0 in bm25), whatever characters the collection's name has.
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5(
    ctoken, heading, text, content='chunks', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER IF NOT EXISTS chunks_ai AFTER INSERT ON chunks BEGIN
    INSERT INTO chunks_fts(rowid, ctoken, heading, text) VALUES (new.id, new.ctoken, new.heading, new.text);
END;
-- A collection being re-embedded with another encoder: one vector per distinct chunk text, written
-- batch by batch (each batch committed: an interrupted re-embed resumes where it stopped) while the
-- chunks keep the old vectors; swapped into the chunks in one transaction once every text has one.
CREATE TABLE IF NOT EXISTS restaged(
    collection TEXT NOT NULL,
    embed_model TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY(collection, embed_model, text_hash)
);
CREATE TRIGGER IF NOT EXISTS chunks_ad AFTER DELETE ON chunks BEGIN
    INSERT INTO chunks_fts(chunks_fts, rowid, ctoken, heading, text)
    VALUES ('delete', old.id, old.ctoken, old.heading, old.text);
END;
"""


@dataclass(frozen=True)
class Collection:
    name: str
    token: str
    embed_model: str
    dim: int
    meta: dict[str, Any]
    tags: list[str]
    created: float
    generation: int


@dataclass(frozen=True)
class DocumentRow:
    id: int
    source: str
    title: str
    content_hash: str
    size: int
    mtime: float


@dataclass(frozen=True)
class ChunkRow:
    id: int
    doc_id: int
    source: str
    title: str
    ordinal: int
    heading: str
    page: int | None
    text: str
    text_hash: str
    meta: dict[str, Any]
    tags: list[str]

    @property
    def embed_text(self) -> str:
        return f"{self.heading}\n{self.text}" if self.heading else self.text


@dataclass(frozen=True)
class NewChunk:
    ordinal: int
    heading: str
    page: int | None
    text: str
    text_hash: str
    vector: bytes  # float32, little-endian, ``dim`` values


@dataclass(frozen=True)
class Filter:
    """Which documents a query may see. ``meta``: every key must equal the value (or be one of the
    values, for a list); ``sources``: SQLite GLOB patterns on the source path; ``access``: the
    caller's access tags -- untagged documents are visible to all, tagged ones only to a caller
    holding one of their tags; ``None`` means no access check (the local owner)."""

    meta: Mapping[str, Any] | None = None
    sources: Sequence[str] | None = None
    access: Sequence[str] | None = None
    exclude_doc_ids: Sequence[int] | None = None

    @property
    def empty(self) -> bool:
        return not (self.meta or self.sources or self.access is not None or self.exclude_doc_ids)

    def sql(self) -> tuple[str, list[Any]]:
        """A condition on ``documents d`` and its parameters."""
        where: list[str] = []
        params: list[Any] = []
        for key, value in (self.meta or {}).items():
            if not _META_KEY.match(key):
                raise InvalidInputError(f"metadata filter key {key!r} must be letters, digits, '_', '.' or '-'")
            values = list(value) if isinstance(value, list | tuple | set) else [value]
            if not values:
                raise InvalidInputError(f"metadata filter {key!r} has no values")
            where.append(f"json_extract(d.meta, '$.\"{key}\"') IN ({','.join('?' * len(values))})")
            params += [v if isinstance(v, int | float) else str(v) for v in values]
        if self.sources:
            where.append("(" + " OR ".join("d.source GLOB ?" for _ in self.sources) + ")")
            params += list(self.sources)
        if self.access is not None:
            tags = [str(t) for t in self.access]
            if tags:
                where.append(f"(d.tags = '[]' OR EXISTS (SELECT 1 FROM json_each(d.tags) "
                             f"WHERE value IN ({','.join('?' * len(tags))})))")
                params += tags
            else:
                where.append("d.tags = '[]'")
        if self.exclude_doc_ids:
            where.append(f"d.id NOT IN ({','.join('?' * len(self.exclude_doc_ids))})")
            params += [int(i) for i in self.exclude_doc_ids]
        return " AND ".join(where) or "1", params


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            f"collection name {name!r} must start with a letter or digit and hold only letters, digits, "
            "'_', '.' or '-' (at most 64)"
        )
    return name


# (file, collection) -> ((created, generation), chunk ids, matrix); shared by every Index on the same
# file in this process. "created" tells a dropped and re-made collection from the old one.
_VECTOR_CACHE: dict[tuple[str, str], tuple[tuple[float, int], Any, Any]] = {}
_VECTOR_LOCK = threading.Lock()


class Index:
    """One SQLite file. Safe to share between threads (calls are serialised); one writer at a time
    across processes (SQLite's lock, waited on for up to ``timeout`` seconds)."""

    def __init__(self, path: Path, timeout: float = 60.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        use_wal(self._db, timeout)
        # NORMAL in WAL mode: a commit survives the process being killed; only an OS crash or power
        # loss can lose the last few commits, and never leaves a torn index.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.execute("PRAGMA cache_size=-65536")  # 64 MB page cache: FTS doclists of a 100k-chunk corpus
        with self.transaction():
            for statement in _split_sql(_SCHEMA):
                self._db.execute(statement)
            self._db.execute("INSERT OR IGNORE INTO info(key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        version = self._db.execute("SELECT value FROM info WHERE key='schema'").fetchone()[0]
        if int(version) != SCHEMA_VERSION:
            raise InvalidInputError(f"{self.path} has index schema {version}; this slmkit reads {SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Index:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE`` ... ``COMMIT``; any exception rolls everything back."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    # -- collections --------------------------------------------------------------------------
    def collections(self) -> list[Collection]:
        return [self._collection(r) for r in self.query("SELECT * FROM collections ORDER BY name")]

    @staticmethod
    def _collection(row: sqlite3.Row) -> Collection:
        return Collection(row["name"], row["token"], row["embed_model"], int(row["dim"]), json.loads(row["meta"]),
                          json.loads(row["tags"]), float(row["created"]), int(row["generation"]))

    def collection(self, name: str) -> Collection:
        rows = self.query("SELECT * FROM collections WHERE name = ?", (name,))
        if not rows:
            known = ", ".join(c.name for c in self.collections()) or "none yet"
            raise InvalidInputError(f"unknown collection {name!r} (collections: {known}); "
                                    f"create it with `slmkit ingest PATH --collection {name}`")
        return self._collection(rows[0])

    def ensure_collection(self, name: str, embed_model: str, dim: int, meta: Mapping[str, Any] | None = None,
                          tags: Sequence[str] | None = None) -> Collection:
        """Create the collection, or update its metadata and tags; the embedding model changes only
        through a re-embed (``stage_vectors`` then ``swap_embedder``: slmkit.rag.reembed)."""
        import hashlib

        check_name(name)
        with self.transaction() as db:
            row = db.execute("SELECT * FROM collections WHERE name = ?", (name,)).fetchone()
            if row is None:
                token = "c" + hashlib.sha1(name.encode()).hexdigest()[:15]
                db.execute("INSERT INTO collections(name, token, embed_model, dim, meta, tags, created) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (name, token, embed_model, dim, json.dumps(dict(meta or {})),
                            json.dumps(sorted(set(tags or []))), time.time()))
            else:
                if row["embed_model"] != embed_model:
                    raise InvalidInputError(
                        f"collection {name!r} is embedded with {row['embed_model']}, not {embed_model}; "
                        f"ingest with `--embedder {embed_model}` to re-embed it"
                    )
                merged = {**json.loads(row["meta"]), **dict(meta or {})}
                all_tags = sorted(set(json.loads(row["tags"])) | set(tags or []))
                db.execute("UPDATE collections SET meta = ?, tags = ? WHERE name = ?",
                           (json.dumps(merged), json.dumps(all_tags), name))
        return self.collection(name)

    def set_collection_meta(self, name: str, key: str, value: Any) -> Collection:
        """Set (``None``: remove) one key of a collection's metadata, e.g. its tuned retrieval weights."""
        self.collection(name)
        with self.transaction() as db:
            meta = json.loads(db.execute("SELECT meta FROM collections WHERE name = ?", (name,)).fetchone()[0])
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
            db.execute("UPDATE collections SET meta = ? WHERE name = ?", (json.dumps(meta), name))
        return self.collection(name)

    def drop_collection(self, name: str) -> None:
        self.collection(name)
        with self.transaction() as db:
            db.execute("DELETE FROM restaged WHERE collection = ?", (name,))
            db.execute("DELETE FROM chunks WHERE collection = ?", (name,))
            db.execute("DELETE FROM documents WHERE collection = ?", (name,))
            db.execute("DELETE FROM collections WHERE name = ?", (name,))

    # -- re-embedding with another encoder ------------------------------------------------------
    _UNSTAGED = ("FROM chunks c WHERE c.collection = ? AND NOT EXISTS (SELECT 1 FROM restaged s WHERE "
                 "s.collection = c.collection AND s.embed_model = ? AND s.text_hash = c.text_hash)")

    def unstaged(self, name: str, embed_model: str) -> list[tuple[str, str]]:
        """(text hash, text to embed) of each distinct chunk text that has no ``embed_model`` vector staged."""
        rows = self.query(f"SELECT c.text_hash, min(c.heading) AS heading, min(c.text) AS text {self._UNSTAGED} "
                          "GROUP BY c.text_hash ORDER BY min(c.id)", (name, embed_model))
        return [(r["text_hash"], f"{r['heading']}\n{r['text']}" if r["heading"] else r["text"]) for r in rows]

    def stage_vectors(self, name: str, embed_model: str, vectors: Sequence[tuple[str, bytes]]) -> None:
        """Keep a batch of new vectors beside the collection (committed; the chunks are untouched)."""
        with self.transaction() as db:
            db.executemany("INSERT OR REPLACE INTO restaged(collection, embed_model, text_hash, vector) "
                           "VALUES (?, ?, ?, ?)", [(name, embed_model, h, v) for h, v in vectors])

    def swap_embedder(self, name: str, embed_model: str, dim: int, drop_meta: Sequence[str] = ()) -> int:
        """In one transaction: give every chunk its staged vector and the collection its new model and
        dimension (forgetting the ``drop_meta`` keys, fitted for the old one). Returns how many chunk
        texts still lack a vector -- then nothing is changed, and the caller embeds those first."""
        with self.transaction() as db:
            missing = db.execute(f"SELECT count(DISTINCT c.text_hash) {self._UNSTAGED}", (name, embed_model)).fetchone()[0]
            if missing:
                return int(missing)
            db.execute("UPDATE chunks SET vector = (SELECT s.vector FROM restaged s WHERE s.collection = ? AND "
                       "s.embed_model = ? AND s.text_hash = chunks.text_hash) WHERE collection = ?",
                       (name, embed_model, name))
            meta = json.loads(db.execute("SELECT meta FROM collections WHERE name = ?", (name,)).fetchone()[0])
            for key in drop_meta:
                meta.pop(key, None)
            db.execute("UPDATE collections SET embed_model = ?, dim = ?, meta = ?, generation = generation + 1 "
                       "WHERE name = ?", (embed_model, dim, json.dumps(meta), name))
            db.execute("DELETE FROM restaged WHERE collection = ?", (name,))
        return 0

    # -- documents ----------------------------------------------------------------------------
    def documents(self, collection: str) -> dict[str, DocumentRow]:
        rows = self.query("SELECT id, source, title, content_hash, size, mtime FROM documents WHERE collection = ?",
                          (collection,))
        return {r["source"]: DocumentRow(r["id"], r["source"], r["title"], r["content_hash"], r["size"], r["mtime"])
                for r in rows}

    def known_vectors(self, collection: str, hashes: Iterable[str]) -> dict[str, bytes]:
        """Vectors already computed for these chunk texts: re-ingesting an edited file only embeds
        the chunks that changed, and a chunk repeated across files is embedded once."""
        wanted = list(dict.fromkeys(hashes))
        found: dict[str, bytes] = {}
        for start in range(0, len(wanted), 500):
            part = wanted[start : start + 500]
            rows = self.query(
                f"SELECT text_hash, vector FROM chunks WHERE collection = ? AND text_hash IN ({','.join('?' * len(part))})",
                (collection, *part),
            )
            found.update((r["text_hash"], r["vector"]) for r in rows)
        return found

    def replace_document(self, collection: Collection, source: str, *, title: str, content_hash: str, size: int,
                         mtime: float, meta: Mapping[str, Any], tags: Sequence[str], chunks: Sequence[NewChunk]) -> int:
        """Insert or replace one document and all its chunks, atomically. Returns the document id."""
        with self.transaction() as db:
            now = db.execute("SELECT embed_model FROM collections WHERE name = ?", (collection.name,)).fetchone()
            if now is None or now[0] != collection.embed_model:
                # Another process re-embedded (or dropped) the collection while this one embedded the document.
                raise InvalidInputError(f"collection {collection.name!r} changed to "
                                        f"{now[0] if now else 'nothing'} during this ingest; run it again")
            old = db.execute("SELECT id FROM documents WHERE collection = ? AND source = ?",
                             (collection.name, source)).fetchone()
            if old is not None:
                db.execute("DELETE FROM chunks WHERE doc_id = ?", (old["id"],))
                db.execute("DELETE FROM documents WHERE id = ?", (old["id"],))
            cur = db.execute(
                "INSERT INTO documents(collection, source, title, content_hash, size, mtime, meta, tags, ingested) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (collection.name, source, title, content_hash, size, mtime, json.dumps(dict(meta)),
                 json.dumps(sorted(set(tags))), time.time()),
            )
            doc_id = int(cur.lastrowid)  # type: ignore[arg-type]
            db.executemany(
                "INSERT INTO chunks(doc_id, collection, ctoken, ordinal, heading, page, text, text_hash, vector) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(doc_id, collection.name, collection.token, c.ordinal, c.heading, c.page, c.text, c.text_hash,
                  c.vector) for c in chunks],
            )
            db.execute("UPDATE collections SET generation = generation + 1 WHERE name = ?", (collection.name,))
        return doc_id

    def delete_documents(self, collection: str, sources: Sequence[str]) -> int:
        deleted = 0
        for source in sources:  # one transaction each, like ingest: an interrupted clean-up is still consistent
            with self.transaction() as db:
                row = db.execute("SELECT id FROM documents WHERE collection = ? AND source = ?",
                                 (collection, source)).fetchone()
                if row is None:
                    continue
                db.execute("DELETE FROM chunks WHERE doc_id = ?", (row["id"],))
                db.execute("DELETE FROM documents WHERE id = ?", (row["id"],))
                db.execute("UPDATE collections SET generation = generation + 1 WHERE name = ?", (collection,))
                deleted += 1
        return deleted

    # -- reading ------------------------------------------------------------------------------
    def stats(self, collection: str | None = None) -> dict[str, Any]:
        where, params = ("WHERE collection = ?", (collection,)) if collection else ("", ())
        docs = self.query(f"SELECT count(*) FROM documents {where}", params)[0][0]
        chunks = self.query(f"SELECT count(*), count(DISTINCT text_hash) FROM chunks {where}", params)[0]
        return {"documents": docs, "chunks": chunks[0], "distinct_chunks": chunks[1], "bytes": self.size_bytes()}

    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in (self.path, Path(f"{self.path}-wal")) if p.exists())

    def chunks(self, ids: Sequence[int]) -> dict[int, ChunkRow]:
        out: dict[int, ChunkRow] = {}
        ids = list(dict.fromkeys(int(i) for i in ids))
        for start in range(0, len(ids), 500):
            part = ids[start : start + 500]
            rows = self.query(
                "SELECT c.id, c.doc_id, d.source, d.title, c.ordinal, c.heading, c.page, c.text, c.text_hash, "
                "d.meta, d.tags FROM chunks c JOIN documents d ON d.id = c.doc_id "
                f"WHERE c.id IN ({','.join('?' * len(part))})", part,
            )
            for r in rows:
                out[r["id"]] = ChunkRow(r["id"], r["doc_id"], r["source"], r["title"], r["ordinal"], r["heading"],
                                        r["page"], r["text"], r["text_hash"], json.loads(r["meta"]),
                                        json.loads(r["tags"]))
        return out

    def allowed_chunks(self, collection: str, flt: Filter) -> Any:
        """Chunk ids a filter lets through, as a sorted numpy array."""
        import numpy as np

        condition, params = flt.sql()
        rows = self.query(f"SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id "
                          f"WHERE c.collection = ? AND {condition}", (collection, *params))
        return np.sort(np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows)))

    def bm25(self, collection: Collection, terms: Sequence[str], k: int, flt: Filter | None = None) -> list[tuple[int, float]]:
        """Top ``k`` chunks by FTS5 BM25 for any of ``terms`` (already tokenised words): (id, score), higher is better."""
        words = [w for w in dict.fromkeys(t.replace('"', "") for t in terms) if w.strip()]
        if not words:
            return []
        match = " OR ".join(f'"{w}"' for w in words)
        if self.query("SELECT count(*) FROM collections")[0][0] > 1:
            # Only needed when the file holds other collections: the AND with a term that every chunk
            # of the collection carries costs ~40% of the query on a 100k-chunk collection.
            match = f"ctoken:{collection.token} AND ({match})"
        sql = ("SELECT rowid, bm25(chunks_fts, 0.0, 1.0, 1.0) AS score FROM chunks_fts WHERE chunks_fts MATCH ?")
        params: list[Any] = [match]
        if flt is not None and not flt.empty:
            condition, extra = flt.sql()
            # "+rowid": keep the filter away from FTS5's planner, which would otherwise look each allowed
            # row up with a MATCH of its own (0.4 s on 2,000 chunks) instead of filtering the matches.
            sql += (" AND +rowid IN (SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id "
                    f"WHERE c.collection = ? AND {condition})")
            params += [collection.name, *extra]
        sql += " ORDER BY score LIMIT ?"
        params.append(k)
        return [(int(r[0]), -float(r[1])) for r in self.query(sql, params)]  # FTS5 bm25 is negated

    def vectors(self, collection: Collection) -> tuple[Any, Any]:
        """(chunk ids, float32 matrix) for a collection, cached until the collection changes."""
        import numpy as np

        key = (str(self.path.resolve()), collection.name)
        row = self.query("SELECT created, generation FROM collections WHERE name = ?", (collection.name,))
        current = (float(row[0][0]), int(row[0][1])) if row else (0.0, -1)
        dim = collection.dim
        with _VECTOR_LOCK:
            cached = _VECTOR_CACHE.get(key)
            if cached is not None and cached[0] == current:
                return cached[1], cached[2]
        with self._lock:
            # One read transaction: ids, vectors and generation from the same snapshot.
            self._db.execute("BEGIN")
            try:
                rows = self._db.execute("SELECT id, vector FROM chunks WHERE collection = ? ORDER BY id",
                                        (collection.name,)).fetchall()
                row = self._db.execute("SELECT created, generation, dim FROM collections WHERE name = ?",
                                       (collection.name,)).fetchone()
                current = (float(row[0]), int(row[1])) if row else (0.0, -1)
                dim = int(row[2]) if row else dim  # a re-embed may have changed it since ``collection`` was read
            finally:
                self._db.execute("COMMIT")
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), dim)
        with _VECTOR_LOCK:
            _VECTOR_CACHE[key] = (current, ids, matrix)
        return ids, matrix


def _split_sql(script: str) -> list[str]:
    """Statements of the schema script; trigger bodies contain ';' so split on 'END;' boundaries too."""
    statements, current = [], []
    for line in script.splitlines():
        if line.strip().startswith("--") or not line.strip():
            continue
        current.append(line)
        joined = "\n".join(current).strip()
        if joined.endswith(";") and (not joined.upper().startswith("CREATE TRIGGER") or joined.upper().endswith("END;")):
            statements.append(joined)
            current = []
    return statements
