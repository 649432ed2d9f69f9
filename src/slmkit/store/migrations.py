"""Versioned schema migrations: each component (``gateway``, ...) lists its migrations in order; the
versions applied are recorded in ``schema_migrations``, and replicas starting together apply each once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slmkit.errors import SlmkitError

if TYPE_CHECKING:
    from slmkit.store.backend import Backend

_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    component TEXT NOT NULL, version INTEGER NOT NULL, name TEXT NOT NULL, applied DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (component, version))"""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str  # statements separated by ';' on their own line ends; portable across both engines

    def statements(self) -> list[str]:
        return [s.strip() for s in self.sql.split(";\n") if s.strip().rstrip(";")]


def migrate(backend: Backend, component: str, migrations: list[Migration]) -> int:
    """Apply the migrations of ``component`` not applied yet, in one transaction; the version reached."""
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)):
        raise ValueError(f"{component}: migration versions must be unique and ascending")
    with backend.transaction() as db:
        backend.lock(db, "slmkit-migrations")
        db.execute(_TABLE)
        row = db.one("SELECT MAX(version) FROM schema_migrations WHERE component=?", (component,))
        current = (row[0] if row else None) or 0
        if versions and current > versions[-1]:
            raise SlmkitError(f"the {component} schema in {backend.describe()} is at version {current}, newer "
                              f"than this slmkit knows ({versions[-1]}): upgrade slmkit")
        for m in migrations:
            if m.version <= current:
                continue
            for statement in m.statements():
                db.execute(statement)
            db.execute("INSERT INTO schema_migrations VALUES (?,?,?,?)", (component, m.version, m.name, time.time()))
            current = m.version
    return current
