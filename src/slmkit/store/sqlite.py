"""The embedded default: one SQLite file in WAL mode, as slmkit has always kept its state."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from slmkit.store.backend import Backend, Connection


_BUSY_SECONDS = 30


def use_wal(raw: sqlite3.Connection, timeout: float = _BUSY_SECONDS) -> None:
    """Put the file in WAL mode, waiting up to ``timeout`` seconds for the other openers of a new file.

    Switching to WAL needs the file to itself and SQLite does not wait for that (its busy handler is
    not called): replicas that open one new file together got "database is locked" at once. WAL is
    then a property of the file, so the first switch wins and the others only see it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if str(raw.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
                raw.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class SqliteBackend(Backend):
    dialect = "sqlite"

    def __init__(self, path: Path, pool_size: int = 8) -> None:
        super().__init__(pool_size)
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def _open(self) -> sqlite3.Connection:
        raw = sqlite3.connect(self.path, timeout=_BUSY_SECONDS, isolation_level=None, check_same_thread=False)
        use_wal(raw)
        raw.execute("PRAGMA synchronous=NORMAL")
        return raw

    def errors(self) -> tuple[type[Exception], ...]:
        return (sqlite3.Error,)

    def _broken(self, raw: sqlite3.Connection) -> bool:
        return raw.in_transaction  # an aborted BEGIN left open would block every other writer

    def _begin(self, conn: Connection) -> None:
        # IMMEDIATE takes the file's write lock now: read-then-write sequences (rate limits) cannot interleave.
        conn.execute("BEGIN IMMEDIATE")

    def lock(self, conn: Connection, name: str) -> None:
        pass  # BEGIN IMMEDIATE already serialises every writer of the file

    def now(self, conn: Connection) -> float:
        return time.time()  # one file means one machine, hence one clock

    def describe(self) -> str:
        return f"sqlite:///{self.path}"
