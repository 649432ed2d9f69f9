"""Connections to the data directory's database (``slmkit.state``: SQLite in WAL mode) for distillation's tables.

One connection per thread, kept open: closing the last connection to a WAL database checkpoints
and syncs it, which on the request path (a capture per teacher answer) cost more than the insert.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from slmkit.state import connect


class Database:
    def __init__(self, root: Path, schema: str) -> None:
        self.root = root
        self.schema = schema
        self._local = threading.local()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.root)
            conn.executescript(self.schema)
            self._local.conn = conn
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Commits on success, rolls back on error."""
        conn = self._connection()
        with conn:
            yield conn

    def close(self) -> None:
        """Close this thread's connection (others close when their thread ends)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
