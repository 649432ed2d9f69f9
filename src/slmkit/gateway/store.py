"""The gateway's SQLite file (WAL): API keys, stored hashed, and the request log.

Writes to the log happen on one background thread, so a request never waits for the
disk; ``flush()`` waits until everything queued is written (tests, shutdown).
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmkit.errors import InvalidInputError

_SCHEMA = """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created REAL NOT NULL,
    revoked REAL, rpm INTEGER, token_budget INTEGER, tokens_used INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, ts REAL NOT NULL, key_id TEXT, endpoint TEXT NOT NULL, model TEXT,
    status INTEGER NOT NULL, latency_ms REAL, tier TEXT, strategy TEXT, prompt_tokens INTEGER,
    completion_tokens INTEGER, cost REAL, saving REAL, error TEXT, content TEXT, decision TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts);
"""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _printable(text: str | None) -> str | None:
    # A NUL or escape sequence from a request must not reach the log as itself (terminals, exports).
    return None if text is None else _CONTROL.sub("\ufffd", text)


def _hash(secret: str) -> str:
    # Keys are 32 random bytes: a plain SHA-256 cannot be brute-forced, and lookup stays one index hit.
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    created: float
    revoked: float | None
    rpm: int | None
    token_budget: int | None
    tokens_used: int


class GatewayStore:
    def __init__(self, path: Path, content_filter: Any = None, keep_content: bool = True) -> None:
        self.path = path
        self.content_filter = content_filter  # e.g. PII masking; applied on the writer thread
        self.keep_content = keep_content
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    # -- keys ------------------------------------------------------------------------------
    def create_key(self, name: str, rpm: int | None = None, token_budget: int | None = None) -> tuple[ApiKey, str]:
        """A new key; the secret is returned once and only its hash is kept."""
        if not name.strip():
            raise InvalidInputError("a key needs a name")
        secret = "sk-slm-" + secrets.token_urlsafe(32)
        key = ApiKey("key_" + secrets.token_hex(6), name.strip(), time.time(), None, rpm, token_budget, 0)
        with self._connect() as db:
            db.execute("INSERT INTO keys VALUES (?,?,?,?,?,?,?,?)",
                       (key.id, key.name, _hash(secret), key.created, None, rpm, token_budget, 0))
        return key, secret

    def list_keys(self) -> list[ApiKey]:
        with self._connect() as db:
            rows = db.execute("SELECT id, name, created, revoked, rpm, token_budget, tokens_used FROM keys "
                              "ORDER BY created").fetchall()
        return [ApiKey(*row) for row in rows]

    def revoke_key(self, key_id: str) -> None:
        with self._connect() as db:
            changed = db.execute("UPDATE keys SET revoked=? WHERE id=? AND revoked IS NULL",
                                 (time.time(), key_id)).rowcount
        if not changed:
            raise InvalidInputError(f"no active key with id {key_id!r}")

    def keys_ever_created(self) -> int:
        """Keys created so far, revoked ones included: once there was one, the gateway stays closed."""
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM keys").fetchone()[0]

    def active_keys(self) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM keys WHERE revoked IS NULL").fetchone()[0]

    def lookup(self, secret: str) -> ApiKey | None:
        with self._connect() as db:
            row = db.execute("SELECT id, name, created, revoked, rpm, token_budget, tokens_used FROM keys "
                             "WHERE hash=?", (_hash(secret),)).fetchone()
        return ApiKey(*row) if row else None

    def add_tokens(self, key_id: str, tokens: int) -> None:
        self._queue_write({"kind": "tokens", "key_id": key_id, "tokens": tokens})

    # -- request log -------------------------------------------------------------------------
    def log(self, **row: Any) -> None:
        self._queue_write({"kind": "request", **row})

    def _queue_write(self, item: dict) -> None:
        with self._lock:
            if self._writer is None or not self._writer.is_alive():
                self._writer = threading.Thread(target=self._write_loop, name="slmkit-log", daemon=True)
                self._writer.start()
        self._queue.put(item)

    def _write_loop(self) -> None:
        db = self._connect()
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                if item["kind"] == "tokens":
                    db.execute("UPDATE keys SET tokens_used = tokens_used + ? WHERE id=?",
                               (item["tokens"], item["key_id"]))
                else:
                    decision = item.get("decision")
                    item["content"] = self._filtered(item.get("content"), None)
                    # Error messages can quote the request (a model name, a path): filtered like content.
                    item["error"] = self._filtered(item.get("error"), item.get("error_code") or "error")
                    db.execute(
                        "INSERT OR REPLACE INTO requests VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (item["id"], item["ts"], item.get("key_id"), item["endpoint"], item.get("model"),
                         item["status"], item.get("latency_ms"), item.get("tier"), item.get("strategy"),
                         item.get("prompt_tokens"), item.get("completion_tokens"), item.get("cost"),
                         item.get("saving"), item.get("error"), item.get("content"),
                         json.dumps(decision) if decision is not None else None))
            except sqlite3.Error:
                pass  # the log must never take a request down; the row is lost, the count in /metrics stays
            finally:
                self._queue.task_done()

    def _filtered(self, text: str | None, withheld: str | None) -> str | None:
        """What the log may keep of a request's text: masked by the content filter, ``withheld`` when
        content is not kept, dropped when the filter fails; never control characters."""
        if not text:
            return text
        if not self.keep_content:
            return withheld
        if self.content_filter is not None:
            try:
                text = self.content_filter(text)
            except Exception:  # noqa: BLE001 - unfilterable text is dropped, never kept raw
                return withheld
        return _printable(text)

    def flush(self) -> None:
        self._queue.join()

    def requests(self, limit: int = 100) -> list[dict]:
        self.flush()
        with self._connect() as db:
            db.row_factory = sqlite3.Row
            rows = db.execute("SELECT * FROM requests ORDER BY ts DESC LIMIT ?", (limit,)).fetchall()
        return [dict(r) for r in rows]
