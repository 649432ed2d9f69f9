"""Department work queues: where a workflow files what it has triaged, in the data directory.

One SQLite file (WAL) so a workflow run from the CLI, a Python script and the gateway
all see the same queues; a queue name is any short label (``billing``, ``it_support``).
"""

from __future__ import annotations

import re
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError
from slmkit.store.sqlite import use_wal

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\- ]{0,63}$")


@dataclass(frozen=True)
class Item:
    id: int
    queue: str
    text: str
    ts: float


class Queues:
    def __init__(self, path: Path | None = None) -> None:
        if path is None:
            path = get_settings().data_dir / "queues.sqlite3"
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30)
        use_wal(conn)
        conn.execute("CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY AUTOINCREMENT, queue TEXT NOT NULL, "
                     "text TEXT NOT NULL, ts REAL NOT NULL)")
        return conn

    def put(self, queue: str, text: str) -> Item:
        queue = queue.strip()
        if not _NAME.match(queue):
            raise InvalidInputError(f"queue name {queue!r}: use 1-64 letters, digits, space, _ . or -")
        if not text.strip():
            raise InvalidInputError("nothing to file: the text is empty")
        ts = time.time()
        with self._connect() as conn:
            cur = conn.execute("INSERT INTO items (queue, text, ts) VALUES (?, ?, ?)", (queue, text, ts))
            return Item(int(cur.lastrowid or 0), queue, text, ts)

    def items(self, queue: str | None = None) -> list[Item]:
        with self._connect() as conn:
            sql, args = "SELECT id, queue, text, ts FROM items", ()
            if queue is not None:
                sql, args = sql + " WHERE queue = ?", (queue,)
            return [Item(*row) for row in conn.execute(sql + " ORDER BY id", args)]

    def counts(self) -> dict[str, int]:
        with self._connect() as conn:
            return dict(conn.execute("SELECT queue, COUNT(*) FROM items GROUP BY queue ORDER BY queue"))
