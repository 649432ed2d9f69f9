"""Where shared state lives: SQLite (the embedded default, one file in the data directory) or
PostgreSQL (``store.url: postgresql://...``) when replicas on several machines must see the same keys,
limits and log. One interface (:class:`Backend`), portable SQL, versioned migrations."""

from __future__ import annotations

from pathlib import Path

from slmkit.store.backend import Backend, Connection, StoreUnavailableError
from slmkit.store.migrations import Migration, migrate

__all__ = ["Backend", "Connection", "Migration", "StoreUnavailableError", "migrate", "open_backend"]


def open_backend(url: str | None, default_path: Path, pool_size: int = 8, connect_timeout: float = 10.0) -> Backend:
    """The backend for ``url``: None means the SQLite file ``default_path``; ``sqlite:///path`` another file;
    ``postgresql://`` (or ``postgres://``) a PostgreSQL database."""
    if url is None:
        from slmkit.store.sqlite import SqliteBackend

        return SqliteBackend(default_path, pool_size)
    if url.startswith("sqlite:///"):
        from slmkit.store.sqlite import SqliteBackend

        return SqliteBackend(Path(url.removeprefix("sqlite:///")).expanduser(), pool_size)
    if url.startswith(("postgresql://", "postgres://")):
        from slmkit.store.postgres import PostgresBackend

        return PostgresBackend(url, pool_size, connect_timeout)
    raise ValueError("store.url must start with postgresql:// or sqlite:///")
