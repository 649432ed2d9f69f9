"""PostgreSQL, for state that several replicas (on several machines) share: psycopg 3, imported only
when a ``postgresql://`` store is configured (``pip install slmkit[postgres]``)."""

from __future__ import annotations

import re
from typing import Any

from slmkit.errors import InvalidInputError
from slmkit.store.backend import Backend, Connection, StoreUnavailableError


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - the message is the point
        raise InvalidInputError("store.url is a postgresql:// URL but psycopg is not installed: "
                                "pip install 'slmkit[postgres]'") from exc
    return psycopg


def redact_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PostgresBackend(Backend):
    dialect = "postgresql"

    def __init__(self, url: str, pool_size: int = 8, connect_timeout: float = 10.0) -> None:
        super().__init__(pool_size)
        self.url = url
        self.connect_timeout = connect_timeout

    @property
    def translate(self) -> bool:
        return True

    def _open(self) -> Any:
        psycopg = _psycopg()
        try:
            return psycopg.connect(self.url, autocommit=True, connect_timeout=max(1, int(self.connect_timeout)),
                                   application_name="slmkit")
        except psycopg.OperationalError as exc:
            raise StoreUnavailableError(f"cannot reach the store at {self.describe()}: "
                                        f"{str(exc).strip().splitlines()[0]}") from exc

    def errors(self) -> tuple[type[Exception], ...]:
        return (_psycopg().Error,)

    def _broken(self, raw: Any) -> bool:
        psycopg = _psycopg()
        return raw.closed or raw.broken or raw.info.transaction_status != psycopg.pq.TransactionStatus.IDLE

    def _begin(self, conn: Connection) -> None:
        conn.execute("BEGIN")

    def lock(self, conn: Connection, name: str) -> None:
        # A transaction-scoped advisory lock: released at COMMIT/ROLLBACK, also if the replica dies.
        conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (name,))

    def now(self, conn: Connection) -> float:
        # The server's clock: replicas on machines whose clocks drift still agree on one window.
        row = conn.one("SELECT EXTRACT(EPOCH FROM clock_timestamp())::float8")
        assert row is not None
        return float(row[0])

    def describe(self) -> str:
        return redact_url(self.url)
