"""The data directory's SQLite database (WAL): one connection per call site, schema created on first use."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from slmkit.config import get_settings
from slmkit.store.sqlite import use_wal

_SCHEMA = """
CREATE TABLE IF NOT EXISTS heads (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    task TEXT NOT NULL,
    encoder TEXT NOT NULL,
    labels TEXT NOT NULL,
    n_examples INTEGER NOT NULL,
    metrics TEXT NOT NULL,
    path TEXT NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (name, version)
);
"""


def connect(data_dir: Path | None = None) -> sqlite3.Connection:
    root = data_dir or get_settings().data_dir
    root.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(root / "slmkit.sqlite3", timeout=30)
    use_wal(conn)
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.executescript(_SCHEMA)
    return conn
