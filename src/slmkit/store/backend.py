"""One small interface over the two databases slmkit keeps shared state in.

SQL is written once, with ``?`` placeholders and the subset both engines speak (``INSERT ... ON
CONFLICT``, ``DOUBLE PRECISION``, ``BIGINT``); a backend translates placeholders and supplies the few
things that differ: how to open a connection, how to serialise writers, and whose clock counts.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from slmkit.errors import SlmkitError

Params = Sequence[Any]


class StoreUnavailableError(SlmkitError):
    """The shared database cannot be reached or refused the connection."""

    exit_code = 5


class Connection:
    """A pooled DB-API connection in autocommit mode, speaking ``?`` placeholders on both engines."""

    def __init__(self, raw: Any, translate: bool) -> None:
        self.raw = raw
        self._translate = translate

    def execute(self, sql: str, params: Params = ()) -> Any:
        if self._translate:
            # psycopg uses %s and treats a literal % as a placeholder start; no SQL here has a literal ?.
            sql = sql.replace("%", "%%").replace("?", "%s")
        cursor = self.raw.cursor()
        cursor.execute(sql, tuple(params))
        return cursor

    def one(self, sql: str, params: Params = ()) -> tuple | None:
        row = self.execute(sql, params).fetchone()
        return tuple(row) if row is not None else None

    def all(self, sql: str, params: Params = ()) -> list[tuple]:
        return [tuple(r) for r in self.execute(sql, params).fetchall()]

    def dicts(self, sql: str, params: Params = ()) -> list[dict]:
        """Rows as ``{column: value}``, the same on both engines (no sqlite3.Row / psycopg row factories)."""
        cursor = self.execute(sql, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


class Backend(ABC):
    """A bounded pool of connections to one database; thread-safe."""

    dialect: str = ""

    def __init__(self, pool_size: int = 8) -> None:
        self._slots = threading.BoundedSemaphore(pool_size)
        self._idle: list[Any] = []
        self._lock = threading.Lock()
        self._closed = False

    # -- what each engine supplies --------------------------------------------------------------
    @abstractmethod
    def _open(self) -> Any:
        """A new raw DB-API connection in autocommit mode."""

    @abstractmethod
    def errors(self) -> tuple[type[Exception], ...]:
        """The engine's exception classes (a failed write is caught by these, never by ``Exception``)."""

    @abstractmethod
    def _broken(self, raw: Any) -> bool:
        """Whether a connection that raised must be dropped rather than reused."""

    @abstractmethod
    def _begin(self, conn: Connection) -> None: ...

    @abstractmethod
    def lock(self, conn: Connection, name: str) -> None:
        """Serialise, until the transaction ends, every writer that takes the lock ``name``."""

    @abstractmethod
    def now(self, conn: Connection) -> float:
        """Seconds since the epoch by the clock all replicas share (the database's, where there is one)."""

    @property
    def translate(self) -> bool:
        return False

    # -- pooling ----------------------------------------------------------------------------------
    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for a few statements, each committed on its own."""
        if not self._slots.acquire(timeout=60):
            raise StoreUnavailableError(f"{self.describe()}: no free database connection after 60 s")
        raw = None
        try:
            with self._lock:
                raw = self._idle.pop() if self._idle else None
            if raw is None:
                raw = self._open()
            yield Connection(raw, self.translate)
        except BaseException:
            if raw is not None and self._broken(raw):
                self._discard(raw)
                raw = None
            raise
        finally:
            if raw is not None:
                with self._lock:
                    if self._closed:
                        self._discard(raw)
                    else:
                        self._idle.append(raw)
            self._slots.release()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction: committed at the end, rolled back on an exception."""
        with self.connect() as conn:
            self._begin(conn)
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @staticmethod
    def _discard(raw: Any) -> None:
        try:
            raw.close()
        except Exception:  # noqa: BLE001, S110 - closing a dead connection may fail; it is gone either way
            pass

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for raw in idle:
            self._discard(raw)

    def describe(self) -> str:
        return self.dialect
