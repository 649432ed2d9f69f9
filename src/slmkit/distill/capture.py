"""The capture store: what the teacher was asked and what it answered, for distillation.

One row per request the teacher answered, in the data directory's SQLite database (WAL). By
default personal data is replaced before the row is written (``capture: masked``): the guard's
PII detector finds the values in every message, the guard's redaction replaces them, and the
same values are replaced wherever the teacher's answer repeats them. The store is bounded:
past ``max_captured`` rows the oldest are deleted on insert.

Masked rows keep only each message's role and text: tool calls, names and non-text parts are
dropped rather than stored unread.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from slmkit.distill.db import Database
from slmkit.distill.settings import DistillSettings, Redaction
from slmkit.errors import InvalidInputError
from slmkit.guard.redact import Vault, redact
from slmkit.models.tool_calls import Message
from slmkit.skills.pii import PiiSpan

if TYPE_CHECKING:
    from slmkit.api import SLM

SCHEMA = """
CREATE TABLE IF NOT EXISTS distill_captures (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    tier TEXT NOT NULL,
    cost REAL NOT NULL,
    capture TEXT NOT NULL,
    messages TEXT NOT NULL,
    answer TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Capture:
    id: int
    ts: float
    tier: str
    cost: float
    capture: str  # masked | full: how the row was stored
    messages: list[Message]
    answer: str


def _text_parts(message: Message) -> list[str]:
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    if isinstance(content, list):
        return [p["text"] for p in content if isinstance(p, dict) and p.get("type") == "text"
                and isinstance(p.get("text"), str)]
    return []


def _mask_answer(answer: str, spans: Sequence[PiiSpan], mode: Redaction, vault: Vault) -> str:
    """Replace, in the answer, every value detected in the request (the teacher may repeat them)."""
    found: list[PiiSpan] = []
    for value, kind in sorted({(s.text, s.type) for s in spans if s.text.strip()}, key=lambda v: -len(v[0])):
        for m in re.finditer(re.escape(value), answer, re.IGNORECASE):
            if not any(f.start < m.end() and m.start() < f.end for f in found):
                found.append(PiiSpan(kind, m.group(0), m.start(), m.end(), 1.0, "repeat"))
    return redact(answer, found, mode, vault).text if found else answer


def mask(slm: SLM, messages: Sequence[Message], answer: str, mode: Redaction) -> tuple[list[Message], str]:
    """(messages, answer) with the personal values the guard finds replaced; one vault per request."""
    texts = [_text_parts(m) for m in messages]
    flat = [t for parts in texts for t in parts if t.strip()]
    found: list[list[PiiSpan]] = slm.pii(flat) if flat else []
    spans_of = dict(zip(range(len(flat)), found, strict=True))
    vault = Vault()
    out: list[Message] = []
    cursor = 0
    every: list[PiiSpan] = []
    for message, parts in zip(messages, texts, strict=True):
        masked = []
        for text in parts:
            spans: list[PiiSpan] = []
            if text.strip():
                spans = spans_of[cursor]
                cursor += 1
            every.extend(spans)
            masked.append(redact(text, spans, mode, vault).text if spans else text)
        out.append({"role": str(message.get("role", "user")), "content": "\n".join(masked)})
    return out, _mask_answer(answer, every, mode, vault)


class CaptureStore:
    def __init__(self, root: Path, settings: DistillSettings, slm: SLM) -> None:
        self.root = root
        self.settings = settings
        self.slm = slm
        self.db = Database(root, SCHEMA)

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.db.transaction()

    def add(self, messages: Sequence[Message], answer: str, tier: str, cost: float) -> int | None:
        """Store one teacher answer (masked unless ``capture: full``); None when capture is off."""
        mode = self.settings.capture
        if mode == "off":
            return None
        if not isinstance(messages, Sequence) or not messages or not all(isinstance(m, dict) for m in messages):
            raise InvalidInputError("messages must be a non-empty list of chat messages")
        if not isinstance(answer, str):
            raise InvalidInputError("the teacher's answer must be text")
        if mode == "masked":
            stored, answer = mask(self.slm, messages, answer, self.settings.redaction)
        else:
            stored = [dict(m) for m in messages]
        with self._db() as conn:
            cur = conn.execute(
                "INSERT INTO distill_captures (ts, tier, cost, capture, messages, answer) VALUES (?, ?, ?, ?, ?, ?)",
                (time.time(), tier, float(cost), mode, json.dumps(stored, ensure_ascii=False), answer))
            row_id = int(cur.lastrowid or 0)
            # Bounded: ids only grow, so everything below the newest ``max_captured`` ids goes.
            conn.execute("DELETE FROM distill_captures WHERE id <= ?", (row_id - self.settings.max_captured,))
        return row_id

    def rows(self, limit: int | None = None, since_id: int = 0) -> list[Capture]:
        """The newest ``limit`` rows after ``since_id``, oldest first."""
        query = "SELECT id, ts, tier, cost, capture, messages, answer FROM distill_captures WHERE id > ? ORDER BY id DESC"
        params: tuple = (since_id,)
        if limit is not None:
            query += " LIMIT ?"
            params += (limit,)
        with self._db() as conn:
            rows = conn.execute(query, params).fetchall()
        return [Capture(r[0], r[1], r[2], r[3], r[4], json.loads(r[5]), r[6]) for r in reversed(rows)]

    def count(self) -> int:
        with self._db() as conn:
            return int(conn.execute("SELECT COUNT(*) FROM distill_captures").fetchone()[0])

    def last_id(self) -> int:
        with self._db() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM distill_captures").fetchone()[0])

    def clear(self) -> None:
        with self._db() as conn:
            conn.execute("DELETE FROM distill_captures")
