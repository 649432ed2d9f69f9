"""The gateway's shared state: API keys (stored hashed), rate-limit windows, token use and the request log.

It lives behind :mod:`slmkit.store`: the SQLite file ``<data_dir>/gateway.sqlite`` (WAL) by default, or
PostgreSQL (``store.url``) when several replicas must share it. Rate limits are decided inside a database
transaction, so N replicas together let a key through exactly its limit.

Writes to the log happen on one background thread, so a request never waits for the
disk; ``flush()`` waits until everything queued is written (tests, shutdown).
"""

from __future__ import annotations

import hashlib
import json
import queue
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from slmkit.errors import InvalidInputError
from slmkit.store import Backend, Connection, Migration, migrate, open_backend

RATE_WINDOW_S = 60.0

# Version 1 is the schema from before versioning (IF NOT EXISTS: an existing file adopts it unchanged).
MIGRATIONS = [
    Migration(1, "keys and request log", """
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL UNIQUE, created DOUBLE PRECISION NOT NULL,
    revoked DOUBLE PRECISION, rpm INTEGER, token_budget BIGINT, tokens_used BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS requests (
    id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, key_id TEXT, endpoint TEXT NOT NULL, model TEXT,
    status INTEGER NOT NULL, latency_ms DOUBLE PRECISION, tier TEXT, strategy TEXT, prompt_tokens INTEGER,
    completion_tokens INTEGER, cost DOUBLE PRECISION, saving DOUBLE PRECISION, error TEXT, content TEXT,
    decision TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts)
"""),
    # One row per admitted request in the last minute: the sliding window lives in the database, so every
    # replica counts the same requests (per-process counters let each replica admit the full limit).
    Migration(2, "rate-limit windows", """
CREATE TABLE IF NOT EXISTS rate_events (key_id TEXT NOT NULL, ts DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS rate_events_key_ts ON rate_events (key_id, ts)
"""),
]

_REQUEST_COLUMNS = ("id", "ts", "key_id", "endpoint", "model", "status", "latency_ms", "tier", "strategy",
                    "prompt_tokens", "completion_tokens", "cost", "saving", "error", "content", "decision")
# Every request once: a row written again (a retried write after a lost connection) replaces itself.
_INSERT_REQUEST = (
    f"INSERT INTO requests ({', '.join(_REQUEST_COLUMNS)}) VALUES ({', '.join('?' * len(_REQUEST_COLUMNS))}) "
    f"ON CONFLICT (id) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _REQUEST_COLUMNS[1:]))
_KEY_COLUMNS = "id, name, created, revoked, rpm, token_budget, tokens_used"

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


@dataclass(frozen=True)
class Admission:
    """A rate-limit decision: admitted, or refused with the seconds until a slot frees up."""

    admitted: bool
    retry_after: int = 0


def _without_text(decision: dict | None) -> dict | None:
    """The decision record as the log keeps it: the guard's changes and reasons, not the text it let
    through (that text is the request's content, which the log keeps only filtered, in ``content``)."""
    if not decision or not isinstance(decision.get("guard"), dict) or "text" not in decision["guard"]:
        return decision
    return {**decision, "guard": {k: v for k, v in decision["guard"].items() if k != "text"}}


class GatewayStore:
    def __init__(self, path: Path, content_filter: Any = None, keep_content: bool = True, *,
                 url: str | None = None, pool_size: int = 8, connect_timeout: float = 10.0) -> None:
        """``path`` is the SQLite file used when ``url`` (``store.url``) is None."""
        self.path = path
        self.content_filter = content_filter  # e.g. PII masking; applied on the writer thread
        self.keep_content = keep_content
        self.backend: Backend = open_backend(url, path, pool_size, connect_timeout)
        self.schema_version = migrate(self.backend, "gateway", MIGRATIONS)
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._lock = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A pooled connection on either backend; write SQL with ``?`` and read rows with ``.dicts()``."""
        with self.backend.connect() as db:
            yield db

    # -- keys ------------------------------------------------------------------------------
    def create_key(self, name: str, rpm: int | None = None, token_budget: int | None = None) -> tuple[ApiKey, str]:
        """A new key; the secret is returned once and only its hash is kept."""
        if not name.strip():
            raise InvalidInputError("a key needs a name")
        secret = "sk-slm-" + secrets.token_urlsafe(32)
        key = ApiKey("key_" + secrets.token_hex(6), name.strip(), time.time(), None, rpm, token_budget, 0)
        with self._connect() as db:
            db.execute(f"INSERT INTO keys ({_KEY_COLUMNS}, hash) VALUES (?,?,?,?,?,?,?,?)",
                       (key.id, key.name, key.created, None, rpm, token_budget, 0, _hash(secret)))
        return key, secret

    def list_keys(self) -> list[ApiKey]:
        with self._connect() as db:
            rows = db.all(f"SELECT {_KEY_COLUMNS} FROM keys ORDER BY created")
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
            return int(db.one("SELECT COUNT(*) FROM keys")[0])

    def active_keys(self) -> int:
        with self._connect() as db:
            return int(db.one("SELECT COUNT(*) FROM keys WHERE revoked IS NULL")[0])

    def lookup(self, secret: str) -> ApiKey | None:
        with self._connect() as db:
            row = db.one(f"SELECT {_KEY_COLUMNS} FROM keys WHERE hash=?", (_hash(secret),))
        return ApiKey(*row) if row else None

    def add_tokens(self, key_id: str, tokens: int) -> None:
        self._queue_write({"kind": "tokens", "key_id": key_id, "tokens": tokens})

    # -- rate limits -----------------------------------------------------------------------------
    def admit(self, key_id: str, rpm: int) -> Admission:
        """Count one request against ``key_id``'s sliding one-minute window, atomically for every replica.

        The check and the insert run in one transaction under a per-key lock (PostgreSQL: an advisory
        lock; SQLite: the file's write lock), so concurrent requests on any replica cannot both take
        the last slot. Time is the database's clock."""
        with self.backend.transaction() as db:
            self.backend.lock(db, "rate:" + key_id)
            now = self.backend.now(db)
            db.execute("DELETE FROM rate_events WHERE key_id=? AND ts < ?", (key_id, now - RATE_WINDOW_S))
            count, oldest = db.one("SELECT COUNT(*), MIN(ts) FROM rate_events WHERE key_id=?", (key_id,))
            if count >= rpm:
                return Admission(False, max(1, int(RATE_WINDOW_S - (now - oldest)) + 1))
            db.execute("INSERT INTO rate_events (key_id, ts) VALUES (?, ?)", (key_id, now))
        return Admission(True)

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
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._write(item)
            finally:
                self._queue.task_done()

    def _write(self, item: dict) -> None:
        if item["kind"] == "tokens":
            sql, params = "UPDATE keys SET tokens_used = tokens_used + ? WHERE id=?", (item["tokens"], item["key_id"])
        else:
            decision = _without_text(item.get("decision"))
            item["content"] = self._filtered(item.get("content"), None)
            # Error messages can quote the request (a model name, a path): filtered like content.
            item["error"] = self._filtered(item.get("error"), item.get("error_code") or "error")
            item["decision"] = json.dumps(decision) if decision is not None else None
            sql, params = _INSERT_REQUEST, tuple(item.get(c) for c in _REQUEST_COLUMNS)
        for attempt in range(2):  # a pooled connection the server dropped is replaced once
            try:
                with self._connect() as db:
                    db.execute(sql, params)
                return
            except self.backend.errors():
                if attempt:
                    return  # the log must never take a request down; the row is lost, the count in /metrics stays
            except Exception:  # noqa: BLE001 - the store unreachable: same rule as above
                return

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

    def close(self) -> None:
        """Write what is queued and close the connections."""
        self.flush()
        self.backend.close()

    def requests(self, limit: int = 100) -> list[dict]:
        self.flush()
        with self._connect() as db:
            return db.dicts("SELECT * FROM requests ORDER BY ts DESC LIMIT ?", (limit,))

    # Dashboard reads ------------------------------------------------------------------------
    # (Portable SQL on both backends: ``with self._connect() as db: db.dicts("... WHERE ts >= ?", (t,))``;
    #  no sqlite3.Row, no engine-specific functions such as strftime/julianday.)
    # The dashboard's own schema is a migration component of its own ("dashboard"), so its versions
    # never collide with the gateway's: which keys are admin keys, and the indexes its pages read by.
    _DASHBOARD_MIGRATIONS = [Migration(1, "admin keys and log indexes for the dashboard", """
CREATE TABLE IF NOT EXISTS key_roles (key_id TEXT PRIMARY KEY, role TEXT NOT NULL, granted DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS requests_ts_cover ON requests (ts, endpoint, tier, status, latency_ms, cost, saving);
CREATE INDEX IF NOT EXISTS requests_endpoint_ts ON requests (endpoint, ts, latency_ms);
CREATE INDEX IF NOT EXISTS requests_tier_ts ON requests (tier, ts);
CREATE INDEX IF NOT EXISTS requests_key_ts ON requests (key_id, ts);
CREATE INDEX IF NOT EXISTS requests_status_ts ON requests (status, ts)
""")]
    _dashboard_ready = False

    def dashboard_schema(self) -> None:
        """Apply the dashboard's migrations once per store (the UI calls it when it is mounted)."""
        if not self._dashboard_ready:
            migrate(self.backend, "dashboard", self._DASHBOARD_MIGRATIONS)
            self._dashboard_ready = True

    def grant_admin(self, key_id: str) -> None:
        """Let ``key_id`` open the dashboard (an ordinary key reaches the API only)."""
        self.dashboard_schema()
        with self._connect() as db:
            db.execute("INSERT INTO key_roles (key_id, role, granted) VALUES (?, 'admin', ?) "
                       "ON CONFLICT (key_id) DO UPDATE SET role = excluded.role", (key_id, time.time()))

    def admin_key_ids(self) -> set[str]:
        self.dashboard_schema()
        with self._connect() as db:
            return {r[0] for r in db.all("SELECT key_id FROM key_roles WHERE role = 'admin'")}

    def _bucket_of_ts(self) -> str:
        """``(floor(ts) - ?) / ?`` in whole seconds: SQLite's CAST truncates, PostgreSQL's rounds."""
        whole = "CAST(FLOOR(ts) AS BIGINT)" if self.backend.dialect == "postgresql" else "CAST(ts AS BIGINT)"
        return f"({whole} - ?) / ?"

    def log_rows(self) -> int:
        with self._connect() as db:
            return int(db.one("SELECT COUNT(*) FROM requests")[0])

    def log_buckets(self, since: float, until: float, width_s: int) -> list[dict]:
        """Per time bucket and tier: requests, errors, fallbacks, cost and the all-large cost. One pass over
        the window; ``bucket`` counts whole ``width_s`` from ``since`` (integer arithmetic on both engines)."""
        with self._connect() as db:
            return db.dicts(
                f"SELECT {self._bucket_of_ts()} AS bucket, tier, COUNT(*) AS n, "
                "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors, "
                "SUM(COALESCE(cost, 0)) AS cost, SUM(COALESCE(cost, 0) + COALESCE(saving, 0)) AS large_cost "
                "FROM requests WHERE ts >= ? AND ts < ? GROUP BY bucket, tier",
                (int(since), width_s, since, until))

    def log_fallbacks(self, since: float, until: float, width_s: int) -> list[dict]:
        """Per bucket, requests answered by a fallback tier (their decision names a fallback reason)."""
        with self._connect() as db:
            return db.dicts(
                f"SELECT {self._bucket_of_ts()} AS bucket, COUNT(*) AS n FROM requests "
                "WHERE ts >= ? AND ts < ? AND strategy IS NOT NULL AND decision LIKE ? GROUP BY bucket",
                (int(since), width_s, since, until, '%"fallback": "%'))

    def log_latency_ms(self, since: float, until: float, width_s: int) -> list[tuple]:
        """Per bucket and endpoint, how many requests took each whole millisecond: (bucket, endpoint, ms, n).
        Grouped in the database, so exact quantiles (to the millisecond) come back without the rows."""
        with self._connect() as db:
            return db.all(
                f"SELECT {self._bucket_of_ts()} AS bucket, endpoint, CAST(latency_ms AS INTEGER) AS ms, "
                "COUNT(*) FROM requests WHERE ts >= ? AND ts < ? AND latency_ms IS NOT NULL "
                "GROUP BY bucket, endpoint, ms",
                (int(since), width_s, since, until))

    def log_pattern_counts(self, since: float, until: float, width_s: int, patterns: dict[str, str],
                           within: str) -> dict[int, dict[str, int]]:
        """Per bucket, how many rows have a decision matching each LIKE pattern (``\\`` escapes), among
        those matching ``within`` (a cheap pre-filter, such as rows with a guard record)."""
        if not patterns:
            return {}
        names = list(patterns)
        cases = ", ".join(f"SUM(CASE WHEN decision LIKE ? ESCAPE '\\' THEN 1 ELSE 0 END) AS c{i}"
                          for i in range(len(names)))
        with self._connect() as db:
            rows = db.all(
                f"SELECT {self._bucket_of_ts()} AS bucket, {cases} FROM requests "
                "WHERE ts >= ? AND ts < ? AND decision LIKE ? GROUP BY bucket",
                (int(since), width_s, *[patterns[n] for n in names], since, until, within))
        return {int(r[0]): {n: int(r[i + 1] or 0) for i, n in enumerate(names)} for r in rows}

    def log_search_floor(self, before: float | None, rows: int) -> float | None:
        """The time of the ``rows``-th newest request (before ``before``): text search reads no further back,
        so a search costs the same at any log size. None when the log holds fewer rows."""
        with self._connect() as db:
            got = db.one("SELECT ts FROM requests WHERE ts < ? ORDER BY ts DESC LIMIT 1 OFFSET ?",
                         (before if before is not None else float("inf"), rows))
        return got[0] if got else None

    def log_page(self, *, limit: int, before: tuple[float, str] | None = None, endpoint: str | None = None,
                 tier: str | None = None, status: str | None = None, key_id: str | None = None,
                 since: float | None = None, until: float | None = None, text: str | None = None) -> list[dict]:
        """One page of the log, newest first, by keyset (``before`` = the last row's ts and id), so a deep
        page costs what the first does. ``status`` is a code ("404") or a class ("4xx"); ``text`` searches
        the stored (masked) content, case-insensitively."""
        where, params = ["1=1"], []
        if before is not None:
            where.append("(ts < ? OR (ts = ? AND id < ?))")
            params += [before[0], before[0], before[1]]
        for column, value in (("endpoint", endpoint), ("tier", tier), ("key_id", key_id)):
            if value:
                where.append(f"{column} = ?")
                params.append(value)
        if status:
            if status.endswith("xx"):
                where.append("status >= ? AND status < ?")
                params += [int(status[0]) * 100, int(status[0]) * 100 + 100]
            else:
                where.append("status = ?")
                params.append(int(status))
        if since is not None:
            where.append("ts >= ?")
            params.append(since)
        if until is not None:
            where.append("ts < ?")
            params.append(until)
        if text:
            escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            # SQLite's LIKE ignores ASCII case already (and LOWER() would double the scan); PostgreSQL's ILIKE does.
            where.append(f"content {'ILIKE' if self.backend.dialect == 'postgresql' else 'LIKE'} ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        with self._connect() as db:
            return db.dicts(
                "SELECT id, ts, key_id, endpoint, model, status, latency_ms, tier, strategy, prompt_tokens, "
                "completion_tokens, cost, saving, SUBSTR(content, 1, 160) AS content FROM requests "
                f"WHERE {' AND '.join(where)} ORDER BY ts DESC, id DESC LIMIT ?", (*params, limit))

    def log_row(self, request_id: str) -> dict | None:
        with self._connect() as db:
            rows = db.dicts("SELECT * FROM requests WHERE id = ?", (request_id,))
        return rows[0] if rows else None

    def log_distinct(self, column: str, limit: int = 100) -> list[str]:
        """The values a filter offers (endpoint, tier, key_id), read from their indexes."""
        if column not in ("endpoint", "tier", "key_id"):
            raise ValueError(column)
        with self._connect() as db:
            rows = db.all(f"SELECT DISTINCT {column} FROM requests WHERE {column} IS NOT NULL "
                          f"ORDER BY {column} LIMIT ?", (limit,))
        return [r[0] for r in rows]

    def log_by_key(self) -> dict[str, tuple[int, float]]:
        """Per key: requests logged and the last one's time."""
        with self._connect() as db:
            rows = db.all("SELECT key_id, COUNT(*), MAX(ts) FROM requests WHERE key_id IS NOT NULL GROUP BY key_id")
        return {r[0]: (int(r[1]), float(r[2])) for r in rows}
