"""Where tasks, their students and the decision log are kept: the data directory's SQLite database.

Students are versioned like heads: one ``.npz`` per version under
``<data_dir>/distill/students/<task>/vNNNN.npz`` (written atomically by the heads store's writer),
indexed here with the kind, threshold, labels, surface forms and the candidate reports.
Students that need no file (zero-shot, a mapped skill) keep their spec in the row.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from slmkit.distill.answers import AnswerProfile
from slmkit.distill.db import Database
from slmkit.distill.lifecycle import TaskState
from slmkit.distill.settings import Candidate
from slmkit.distill.students import (
    FINETUNE_BASE, CandidateReport, Embedder, FineTunedStudent, HeadStudent, LexicalStudent, SentimentStudent, Student,
    ZeroShotStudent,
)
from slmkit.distill.templates import Template
from slmkit.errors import NotTrainedError
from slmkit.train.finetune import copy_folder, load as load_finetuned
from slmkit.train.store import read_npz, write_npz

if TYPE_CHECKING:
    from slmkit.api import SLM

SCHEMA = """
CREATE TABLE IF NOT EXISTS distill_tasks (
    task TEXT PRIMARY KEY,
    template TEXT NOT NULL,
    profile TEXT NOT NULL,
    count INTEGER NOT NULL,
    examples TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS distill_students (
    task TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    threshold REAL NOT NULL,
    labels TEXT NOT NULL,
    surface TEXT NOT NULL,
    path TEXT,
    spec TEXT NOT NULL,
    reports TEXT NOT NULL,
    n_examples INTEGER NOT NULL,
    created REAL NOT NULL,
    PRIMARY KEY (task, version)
);
CREATE TABLE IF NOT EXISTS distill_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts REAL NOT NULL,
    task TEXT NOT NULL,
    action TEXT NOT NULL,
    student TEXT,
    reason TEXT NOT NULL
);
"""


@dataclass
class TaskRecord:
    task_id: str
    template: Template
    profile: AnswerProfile
    count: int  # captured requests of this template at the last discovery
    examples: list[str]  # a few payloads, as stored (masked by default)
    state: TaskState
    created: float
    updated: float


@dataclass(frozen=True)
class StudentRecord:
    task_id: str
    version: int
    kind: Candidate
    threshold: float
    labels: list[str]  # normalised teacher labels the student answers with
    surface: dict[str, str]  # label -> the teacher's own commonest wording
    path: str | None  # the .npz of heads, the folder of a fine-tuned one; None for students without a file
    spec: dict  # zero-shot descriptions, a skill's label mapping, a head's encoder, a fine-tuned base and length
    reports: list[dict]  # every candidate's CandidateReport
    n_examples: int
    created: float

    @property
    def encoder(self) -> str | None:
        """The embeddings a head student reads."""
        return self.spec.get("encoder")

    @property
    def name(self) -> str:
        return f"{self.kind} v{self.version}" + (f" ({self.encoder})" if self.encoder else "")


@dataclass(frozen=True)
class Event:
    ts: float
    task_id: str
    action: str
    student: str | None
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


class Registry:
    def __init__(self, root: Path, max_events: int = 5_000) -> None:
        self.root = root
        self.max_events = max_events
        self.db = Database(root, SCHEMA)

    def _db(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.db.transaction()

    # -- tasks ------------------------------------------------------------------------------------
    def save_task(self, task: TaskRecord) -> None:
        task.updated = time.time()
        with self._db() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO distill_tasks VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (task.task_id, json.dumps(task.template.to_dict()), json.dumps(task.profile.to_dict()), task.count,
                 json.dumps(task.examples, ensure_ascii=False), json.dumps(task.state.to_dict()), task.created,
                 task.updated))

    def save_state(self, task_id: str, state: TaskState) -> None:
        with self._db() as conn:
            conn.execute("UPDATE distill_tasks SET state = ?, updated = ? WHERE task = ?",
                         (json.dumps(state.to_dict()), time.time(), task_id))

    def tasks(self) -> list[TaskRecord]:
        with self._db() as conn:
            rows = conn.execute("SELECT * FROM distill_tasks ORDER BY created").fetchall()
        return [TaskRecord(r[0], Template.from_dict(json.loads(r[1])), AnswerProfile.from_dict(json.loads(r[2])), r[3],
                           json.loads(r[4]), TaskState.from_dict(json.loads(r[5])), r[6], r[7]) for r in rows]

    def delete_task(self, task_id: str) -> None:
        with self._db() as conn:
            conn.execute("DELETE FROM distill_tasks WHERE task = ?", (task_id,))

    def clear(self) -> None:
        with self._db() as conn:
            conn.execute("DELETE FROM distill_tasks")
            conn.execute("DELETE FROM distill_students")
            conn.execute("DELETE FROM distill_events")

    # -- students ---------------------------------------------------------------------------------
    def student_dir(self, task_id: str) -> Path:
        return self.root / "distill" / "students" / task_id

    def save_student(self, task_id: str, student: Student, *, threshold: float, labels: Sequence[str],
                     surface: dict[str, str], reports: Sequence[CandidateReport], n_examples: int,
                     keep: int = 5, protect: Sequence[int] = ()) -> StudentRecord:
        """Save the next version; versions older than the newest ``keep`` go, except those in ``protect``."""
        with self._db() as conn:
            (latest,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM distill_students WHERE task = ?",
                                     (task_id,)).fetchone()
            version = latest + 1
            path: Path | None = None
            spec: dict = {}
            if isinstance(student, FineTunedStudent):
                path = self.student_dir(task_id) / f"v{version:04d}"
                copy_folder(student.classifier.folder, path, ("model.onnx", "tokenizer.json", "labels.json"))
                spec = {"base": FINETUNE_BASE, "max_length": student.classifier.max_length}
            elif isinstance(student, LexicalStudent | HeadStudent):
                path = self.student_dir(task_id) / f"v{version:04d}.npz"
                write_npz(path, student.head)  # renamed into place before the row is committed
                if isinstance(student, HeadStudent):
                    spec = {"encoder": student.embedder.model}
            elif isinstance(student, ZeroShotStudent):
                spec = {"descriptions": student.descriptions}
            elif isinstance(student, SentimentStudent):
                spec = {"mapping": student.mapping}
            record = StudentRecord(task_id, version, student.kind, threshold, list(labels), dict(surface),
                                   str(path) if path else None, spec, [r.to_dict() for r in reports], n_examples,
                                   time.time())
            conn.execute("INSERT INTO distill_students VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (task_id, version, record.kind, threshold, json.dumps(record.labels),
                          json.dumps(record.surface, ensure_ascii=False), record.path, json.dumps(spec),
                          json.dumps(record.reports), n_examples, record.created))
            old = [(v, p) for v, p in conn.execute(
                "SELECT version, path FROM distill_students WHERE task = ? AND version <= ?", (task_id, version - keep))
                if v not in protect]
            conn.executemany("DELETE FROM distill_students WHERE task = ? AND version = ?",
                             [(task_id, v) for v, _ in old])
        for _, stale in old:
            if stale and Path(stale).is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            elif stale:
                Path(stale).unlink(missing_ok=True)
        return record

    def students(self, task_id: str) -> list[StudentRecord]:
        with self._db() as conn:
            rows = conn.execute("SELECT * FROM distill_students WHERE task = ? ORDER BY version", (task_id,)).fetchall()
        return [StudentRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), json.loads(r[5]), r[6], json.loads(r[7]),
                              json.loads(r[8]), r[9], r[10]) for r in rows]

    def student(self, task_id: str, version: int) -> StudentRecord:
        for record in self.students(task_id):
            if record.version == version:
                return record
        raise NotTrainedError(f"task {task_id} has no student version {version}; "
                              f"train one with `slmkit distill train {task_id}`")

    def load_student(self, record: StudentRecord, slm: SLM, embedders: Mapping[str, Embedder]) -> Student:
        """The student object; a missing or unreadable file is a NotTrainedError naming the fix.

        ``embedders`` by encoder name: a head reads the encoder it was fitted on.
        """
        if record.kind in ("lexical", "head"):
            path = Path(record.path or "")
            try:
                head = read_npz(path)
            except (OSError, ValueError, KeyError) as exc:
                raise NotTrainedError(f"student {record.name} of task {record.task_id} cannot be read from {path} "
                                      f"({type(exc).__name__}); retrain with `slmkit distill train "
                                      f"{record.task_id}`") from None
            encoder = str(head.meta.get("encoder"))
            if record.kind == "head" and encoder not in embedders:
                raise NotTrainedError(f"student {record.name} of task {record.task_id} reads {encoder} embeddings but "
                                      f"the distiller loads {', '.join(embedders)} (distill.encoder and the installed "
                                      f"distill.extra_encoders); retrain with `slmkit distill train {record.task_id}`")
            student: Student = (LexicalStudent(head) if record.kind == "lexical"
                                else HeadStudent(head, embedders[encoder]))
        elif record.kind == "finetune":
            try:
                student = FineTunedStudent(load_finetuned(Path(record.path or ""), int(record.spec["max_length"])))
            except NotTrainedError as exc:
                raise NotTrainedError(f"student {record.name} of task {record.task_id}: {exc}; retrain with "
                                      f"`slmkit distill train {record.task_id}`") from None
        elif record.kind == "zero-shot":
            student = ZeroShotStudent(dict(record.spec["descriptions"]), slm)
        else:
            student = SentimentStudent(dict(record.spec["mapping"]), slm)
        return student.warm_up()

    # -- decision log -----------------------------------------------------------------------------
    def log(self, task_id: str, action: str, student: str | None, reason: str) -> Event:
        event = Event(time.time(), task_id, action, student, reason)
        with self._db() as conn:
            cur = conn.execute("INSERT INTO distill_events (ts, task, action, student, reason) VALUES (?, ?, ?, ?, ?)",
                               (event.ts, task_id, action, student, reason))
            conn.execute("DELETE FROM distill_events WHERE id <= ?", (int(cur.lastrowid or 0) - self.max_events,))
        return event

    def last_event_id(self) -> int:
        with self._db() as conn:
            return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM distill_events").fetchone()[0])

    def events_after(self, event_id: int) -> list[Event]:
        with self._db() as conn:
            rows = conn.execute("SELECT ts, task, action, student, reason FROM distill_events WHERE id > ? ORDER BY id",
                                (event_id,)).fetchall()
        return [Event(*row) for row in rows]

    def events(self, task_id: str | None = None, limit: int = 100) -> list[Event]:
        query = "SELECT ts, task, action, student, reason FROM distill_events"
        params: tuple = ()
        if task_id:
            query += " WHERE task = ?"
            params = (task_id,)
        query += " ORDER BY id DESC LIMIT ?"
        with self._db() as conn:
            rows = conn.execute(query, (*params, limit)).fetchall()
        return [Event(*row) for row in reversed(rows)]
