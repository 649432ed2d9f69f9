"""``Distiller``: the one object the router, the gateway and the CLI drive distillation through.

    distiller = Distiller(settings, slm).warm_up()
    student = distiller.answer(messages)            # None: no promoted or shadow task matched
    if student is not None and student.served:
        reply = student.text                         # the student's answer, in the teacher's words
    if student is None or student.ask_teacher:
        teacher = ...                                # the large tier (in the background when served)
    distiller.record(messages, teacher_text, tier, cost, student)   # capture, compare, promote/demote

``answer`` never raises: any failure of a student means the teacher answers. ``record`` stores
the capture (masked by default) and, with ``auto_maintain``, rediscovers tasks and trains
students every ``maintain_every`` captures. A server calls :meth:`record_later` instead: the same
work on one background thread after the response (the router does this).

State lives in the data directory (captures, tasks, student versions, decision log). One process
owns a data directory's distillation state: several replicas would each keep their own counters.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

from slmkit.api import SLM
from slmkit.config import get_settings
from slmkit.distill.answers import AnswerProfile, normalise, profile, to_label
from slmkit.distill.background import Background
from slmkit.distill.capture import CaptureStore
from slmkit.distill.lifecycle import (
    TaskState, Verdict, challenge, compare, demote, drop_challenger, drop_second, held_out, promote, shadow_summary,
    start_challenger, start_shadow,
)
from slmkit.distill.registry import Event, Registry, StudentRecord, TaskRecord
from slmkit.distill.settings import DistillSettings
from slmkit.distill.stats import wilson
from slmkit.distill.students import (
    CandidateReport, Embedder, Student, Trained, choose, evaluate, installed_encoders, one_blas_thread,
)
from slmkit.distill.templates import Request, Template, TemplateMatch, best_match, mine, request_shape
from slmkit.errors import InvalidInputError, NotTrainedError, SlmkitError
from slmkit.models.tool_calls import Message

log = logging.getLogger("slmkit.distill")

Mode = Literal["shadow", "served", "sampled", "deferred"]
_EXAMPLES_SHOWN = 3
_RECONCILE_SAMPLE = 50
_RECONCILE_SHARE = 0.95


def configured_settings() -> DistillSettings:
    """The ``distill:`` section of the kit's settings."""
    return get_settings().distill


class UnknownTask(InvalidInputError):
    """No distillation task has this id (it was never discovered, or was cleared)."""


class AlreadyTraining(SlmkitError):
    """A training run for this task is queued or running; its outcome goes to the decision log."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"task {task_id} is already queued for training: its outcome will be in the task's "
                         "decision log")


@dataclass(frozen=True)
class Challenge:
    """What a challenger student answered to a request the serving student deferred."""

    version: int
    student: str
    label: str
    text: str
    confidence: float
    threshold: float
    labels_here: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class StudentAnswer:
    task_id: str
    student: str  # kind, version and a head's encoder: "head v3 (minilm-l6-int8)"
    version: int  # of the student that answered: the task's first, or its second when the first deferred
    label: str  # the normalised label the student chose
    text: str  # the answer to serve: the teacher's own wording of that label, with this request's values
    confidence: float
    threshold: float
    served: bool  # the client gets ``text``
    ask_teacher: bool  # the teacher must still answer: shadow, below threshold, or sampled
    mode: Mode
    reason: str  # for the decision record
    latency_ms: float
    challenger: Challenge | None = None
    labels_here: tuple[str, ...] = field(default=(), repr=False)  # the label set as worded in this request

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("labels_here")
        if out["challenger"] is not None:
            out["challenger"].pop("labels_here")
        return out


@dataclass(frozen=True)
class DiscoveredTask:
    task_id: str
    template: Template
    kind: str  # closed | structured | open
    status: str
    count: int
    labels: tuple[str, ...]
    coverage: float
    schema: dict[str, str]
    examples: list[str]
    why: str

    def to_dict(self) -> dict:
        return {**asdict(self), "template": self.template.to_dict(), "labels": list(self.labels)}


@dataclass(frozen=True)
class Discovery:
    captured: int  # captures read
    templated: int  # of which in a template
    open: int  # of which in none: open requests, left on the generators
    tasks: list[DiscoveredTask]
    members: dict[str, list[int]] = field(default_factory=dict, repr=False)  # task -> capture ids

    def to_dict(self) -> dict:
        return {"captured": self.captured, "templated": self.templated, "open": self.open,
                "tasks": [t.to_dict() for t in self.tasks]}


@dataclass(frozen=True)
class TrainReport:
    task_id: str
    student: str | None  # "head v2 (minilm-l6-int8)", or None when no candidate meets the target
    threshold: float | None
    n_examples: int
    labels: list[str]
    candidates: list[CandidateReport]
    reason: str

    def to_dict(self) -> dict:
        return {**asdict(self), "candidates": [c.to_dict() for c in self.candidates]}


@dataclass(frozen=True)
class TaskStatus:
    task_id: str
    template: str
    kind: str
    status: str
    count: int
    labels: list[str]
    student: str | None
    threshold: float | None
    shadow_n: int
    shadow_agreement: float | None
    shadow_lower: float | None
    served: int
    sampled: int
    sampled_agreement: float | None
    deferred: int
    served_share: float
    saved_cost: float
    held: bool
    reason: str
    error: str | None
    training: bool = False  # a training run queued with ``train_later`` has not ended yet
    second: str | None = None  # the student answering what the first defers
    challenger: str | None = None  # a newer version shadowing on the requests the serving ones defer
    challenger_n: int = 0
    challenger_agreement: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _worded(record: StudentRecord, match: TemplateMatch, label: str) -> tuple[str, tuple[str, ...]]:
    """A student's label as the teacher words it in this request, and the whole label set worded so
    (what the teacher's answer is read against)."""
    text = match.restore(record.surface.get(label, label))
    return text, tuple(normalise(match.restore(record.surface.get(each, each))) for each in record.labels)


class Distiller:
    def __init__(self, settings: DistillSettings | None = None, slm: SLM | None = None, *,
                 data_dir: Path | None = None) -> None:
        self.settings = settings or configured_settings()
        self.slm = slm if slm is not None else SLM(self.settings.encoder)
        self.root = data_dir or get_settings().data_dir
        self.store = CaptureStore(self.root, self.settings, self.slm)
        self.registry = Registry(self.root, self.settings.max_events)
        self.embedder = Embedder(self.slm)
        # Heads are tried on each of these; a student reads the one it was fitted on.
        self.embedders = {self.embedder.model: self.embedder} | {
            name: Embedder(self.slm, name) for name in installed_encoders(self.settings.extra_encoders)
            if name != self.embedder.model}
        self._lock = threading.RLock()
        self._rng = random.Random(self.settings.seed)
        self._students: dict[tuple[str, int], tuple[StudentRecord, Student]] = {}
        self._since_maintain = 0
        self._tasks: dict[str, TaskRecord] = {t.task_id: t for t in self.registry.tasks()}
        self._background = Background(self.settings.queue_limit)
        self._training: set[str] = set()  # task ids with a train_later run queued or running

    # -- loading ----------------------------------------------------------------------------------
    def warm_up(self) -> Distiller:
        """Load the PII detector (masked capture) and every active task's student now, not on a request."""
        if self.settings.capture == "masked":
            self.slm.warm_up("pii")
        for task in list(self._tasks.values()):
            if task.state.status in ("shadow", "promoted"):
                self._student(task)
        return self

    def reload(self) -> Distiller:
        """Re-read tasks and students from the data directory (after another process changed them)."""
        with self._lock:
            self._tasks = {t.task_id: t for t in self.registry.tasks()}
            self._students.clear()
        return self

    def _load(self, task_id: str, version: int) -> tuple[StudentRecord, Student]:
        key = (task_id, version)
        if key not in self._students:
            record = self.registry.student(task_id, version)
            self._students[key] = (record, self.registry.load_student(record, self.slm, self.embedders))
        return self._students[key]

    def _student(self, task: TaskRecord) -> tuple[StudentRecord, Student] | None:
        version = task.state.student_version
        if version is None or task.state.error is not None:
            return None
        try:
            return self._load(task.task_id, version)
        except NotTrainedError as exc:
            self._fail(task, str(exc))
            return None

    def _extra(self, task: TaskRecord, version: int | None, drop: Callable[[TaskState], None],
               role: str) -> tuple[StudentRecord, Student] | None:
        """A task's second student or challenger; one that cannot load is dropped and logged (the first
        student still serves, so unlike it this is no error of the task's)."""
        if version is None:
            return None
        try:
            return self._load(task.task_id, version)
        except NotTrainedError as exc:
            with self._lock:
                drop(task.state)
                self.registry.save_state(task.task_id, task.state)
                self.registry.log(task.task_id, "error", None, f"{role} dropped: {exc}")
            return None

    def _second(self, task: TaskRecord) -> tuple[StudentRecord, Student] | None:
        """The task's second student, answering what the first defers, if it has one."""
        return self._extra(task, task.state.second_version, drop_second, "second student")

    def _challenger(self, task: TaskRecord, match: TemplateMatch, payload: str) -> Challenge | None:
        """The challenger's answer, if the task has one."""
        if task.state.status != "promoted":
            return None
        loaded = self._extra(task, task.state.challenger_version, drop_challenger, "challenger")
        if loaded is None:
            return None
        record, student = loaded
        prediction = student.predict([payload])[0]
        text, labels_here = _worded(record, match, prediction.label)
        return Challenge(record.version, record.name, prediction.label, text, prediction.confidence, record.threshold,
                         labels_here=labels_here)

    def _fail(self, task: TaskRecord, error: str) -> None:
        """A student that cannot answer: the teacher answers its task until it is retrained."""
        with self._lock:
            task.state.error = error
            task.state.reason = f"teacher answers: {error}"
            self.registry.save_state(task.task_id, task.state)
            self.registry.log(task.task_id, "error", None, error)
        log.warning("distill: %s", error)

    def _task(self, task_id: str) -> TaskRecord:
        task = self._tasks.get(task_id)
        if task is None:
            known = ", ".join(sorted(self._tasks)) or "none yet: run discover"
            raise UnknownTask(f"unknown distillation task {task_id!r}; known: {known}")
        return task

    # -- the request path -------------------------------------------------------------------------
    def answer(self, messages: Sequence[Message]) -> StudentAnswer | None:
        """The student's answer for a request of a shadow or promoted task, or None (the teacher answers).

        Never raises: a student that fails for any reason is logged and the teacher answers.
        """
        if not self.settings.enabled:
            return None
        try:
            return self._answer(messages)
        except Exception as exc:  # noqa: BLE001 - the teacher is always a correct answer; a student never fails a request
            log.warning("distill: student failed, the teacher answers: %s: %s", type(exc).__name__, exc)
            return None

    def _answer(self, messages: Sequence[Message]) -> StudentAnswer | None:
        started = time.perf_counter()
        with self._lock:
            active = [t for t in self._tasks.values() if t.state.status in ("shadow", "promoted")
                      and t.state.student_version is not None and t.state.error is None]
        if not active:
            return None  # every chat request asks: with no student at work, it costs a list, not a parse
        request = request_shape(messages)
        if request is None:
            return None
        found = best_match([t.template for t in active], request)
        if found is None:
            return None
        task, match = active[found[0]], found[1]
        loaded = self._student(task)
        if loaded is None:
            return None
        record, student = loaded
        prediction = student.predict([match.payload])[0]
        with self._lock:
            status = task.state.status
            sampled = self._rng.random() < self.settings.sample_rate
        challenger, second = None, None
        if status == "promoted" and prediction.confidence < record.threshold:
            # The first student defers: its second answers when confident, or a challenger answers beside it.
            second = self._second(task)
            if second is not None:
                guess = second[1].predict([match.payload])[0]
                if guess.confidence >= second[0].threshold:
                    record, prediction = second[0], guess
            else:
                challenger = self._challenger(task, match, match.payload)
        text, labels_here = _worded(record, match, prediction.label)
        name = f"task {task.task_id} student {record.name}"
        confidence, threshold = prediction.confidence, record.threshold
        mode: Mode
        if status == "shadow":
            mode = "shadow"
            reason = f"distill: {name} {shadow_summary(task.state, self.settings)}: the teacher answers"
        elif confidence >= threshold:
            mode = "sampled" if sampled else "served"
            reason = f"distill: {name} confidence {confidence:.2f} >= {threshold:.2f}"
            if second is not None:
                reason += f" (v{task.state.student_version} deferred)"
            if sampled:
                reason += f"; sampled to the teacher ({self.settings.sample_rate:.0%} of served)"
        else:
            mode = "deferred"
            reason = f"distill: {name} confidence {confidence:.2f} < {threshold:.2f}: the teacher answers"
            if second is not None:
                reason += f" (second student v{task.state.second_version} unsure too)"
        served = mode in ("served", "sampled")
        return StudentAnswer(task.task_id, record.name, record.version, prediction.label, text, confidence, threshold,
                             served, mode != "served", mode, reason, 1000 * (time.perf_counter() - started),
                             challenger=challenger, labels_here=labels_here)

    def record(self, messages: Sequence[Message], teacher_text: str | None, tier: str = "teacher", cost: float = 0.0,
               student: StudentAnswer | None = None) -> list[Event]:
        """After a request: capture the teacher's answer, compare the student's, promote or demote.

        ``teacher_text`` is None when the teacher was not asked (the student served) or failed.
        Returns the decisions this call took (promotions, demotions, trainings).
        """
        if not self.settings.enabled:
            return []
        events: list[Event] = []
        if teacher_text is not None and self.store.add(messages, teacher_text, tier, cost) is not None:
            self._since_maintain += 1
        if student is not None:
            events += self._account(student, teacher_text, cost)
        if self.settings.auto_maintain and self._since_maintain >= self.settings.maintain_every:
            events += self.maintain()
        return events

    def record_later(self, messages: Sequence[Message], teacher_text: str | None = None, tier: str = "teacher",
                     cost: float = 0.0, student: StudentAnswer | None = None, *,
                     ask_teacher: Callable[[], tuple[str, float]] | None = None) -> bool:
        """``record`` on the background thread, after the response; False when the queue was full.

        ``ask_teacher`` is for a request the student served and sampling drew for a check: the
        teacher is asked there, off the request path, and returns (its answer, its cost). A teacher
        that fails leaves the request counted as served and uncompared.
        """
        if not self.settings.enabled:
            return False
        messages = [dict(m) for m in messages]  # type: ignore[misc]  # the caller may reuse its list

        def job() -> None:
            text, spent = teacher_text, cost
            if ask_teacher is not None:
                try:
                    text, spent = ask_teacher()
                except Exception as exc:  # noqa: BLE001 - a sampled check that fails is one comparison fewer
                    log.warning("distill: the sampled teacher check failed: %s: %s", type(exc).__name__, exc)
                    text, spent = None, 0.0
            self.record(messages, text, tier, spent, student)  # type: ignore[arg-type]

        return self._background.submit(job)

    def teacher_cost(self, task_id: str) -> float:
        """What the teacher has cost per request of this task so far (0.0 for an unknown task)."""
        task = self._tasks.get(task_id)
        return task.state.mean_teacher_cost if task is not None else 0.0

    @property
    def dropped(self) -> int:
        """Bookkeeping jobs dropped because the background queue was full."""
        return self._background.dropped

    def flush(self) -> Distiller:
        """Wait for the background bookkeeping queued so far."""
        self._background.flush()
        return self

    def close(self) -> None:
        """Finish the queued bookkeeping and stop its thread (the gateway's shutdown)."""
        self._background.close()

    def _account(self, student: StudentAnswer, teacher_text: str | None, cost: float) -> list[Event]:
        with self._lock:
            task = self._tasks.get(student.task_id)
            if task is None or student.version not in (task.state.student_version, task.state.second_version):
                return []  # retrained or rediscovered since: this comparison is about an old student
            state = task.state
            verdict = None
            verdicts: list[tuple[str, Verdict]] = []
            if teacher_text is None:
                state.served += int(student.served)
            else:
                state.teacher_cost += cost
                state.teacher_answers += 1
                agreed = to_label(teacher_text, student.labels_here) == normalise(student.text)
                last = self.store.last_id()
                if student.mode == "shadow":
                    state.shadowed += 1
                    if student.confidence >= student.threshold:
                        verdict = compare(state, agreed, self.settings, last)
                elif student.served:
                    state.served += 1
                    state.sampled += 1
                    verdict = compare(state, agreed, self.settings, last)
                else:
                    state.deferred += 1
                if verdict is not None:
                    verdicts.append((student.student, verdict))
                rival = student.challenger
                if (rival is not None and not student.served and rival.version == state.challenger_version
                        and rival.confidence >= rival.threshold):
                    agreed = to_label(teacher_text, rival.labels_here) == normalise(rival.text)
                    outcome = challenge(state, agreed, self.settings)
                    if outcome is not None:
                        verdicts.append((rival.student, outcome))
            events = []
            for name, decision in verdicts:
                events.append(self.registry.log(task.task_id, decision.action, name, decision.reason))
                log.info("distill: task %s: %s", task.task_id, decision.reason)
            self.registry.save_state(task.task_id, state)
            return events

    # -- discovery and training -------------------------------------------------------------------
    def discover(self) -> Discovery:
        """Group the captured requests into task templates and classify each task by its answers."""
        captures = self.store.rows(limit=self.settings.discover_window)
        if not captures:
            raise InvalidInputError(
                f"the capture store is empty: nothing to discover yet (distill.capture is "
                f"{self.settings.capture!r}; captures come from requests the teacher answered)")
        requests = [request_shape(c.messages) for c in captures]
        s = self.settings
        groups, unassigned = mine(requests, min_support=s.min_template_requests, min_fixed_words=s.min_fixed_tokens)
        found: list[DiscoveredTask] = []
        members: dict[str, list[int]] = {}
        with self._lock:
            for group in groups:
                template = self._reconcile(group.template, [requests[i] for i in group.members])
                rows = [captures[i] for i in group.members]
                prof = profile([c.answer for c in rows], coverage=s.closed_coverage, max_labels=s.max_labels,
                               min_label_count=s.min_label_count, structured_share=s.structured_share,
                               schema_share=s.schema_share)
                shown = [r for r in (requests[i] for i in group.members[-_EXAMPLES_SHOWN:]) if r is not None]
                examples = [m.payload for m in map(template.match, shown) if m is not None]
                task = self._upsert(template, prof, len(rows), examples)
                members[task.task_id] = [c.id for c in rows]
                found.append(DiscoveredTask(task.task_id, template, prof.kind, task.state.status, len(rows),
                                            prof.labels, prof.coverage, prof.schema, examples, prof.why))
            # A task without a student that this discovery no longer finds (its template's boundary moved as
            # data came in, or its traffic stopped) is forgotten; tasks with students stay until demoted.
            for task_id in [t for t, task in self._tasks.items() if t not in members and task.state.student_version is None]:
                del self._tasks[task_id]
                self.registry.delete_task(task_id)
        return Discovery(len(captures), len(captures) - len(unassigned), len(unassigned), found, members)

    def _reconcile(self, template: Template, requests: Sequence[Request | None]) -> Template:
        """Keep a known task's template (and so its id and student) when it still matches the group."""
        if template.task_id in self._tasks:
            return template
        sample = [r for r in requests if r is not None][-_RECONCILE_SAMPLE:]
        best, best_hits = None, 0
        for task in self._tasks.values():
            hits = sum(task.template.match(r) is not None for r in sample)
            if hits > best_hits:
                best, best_hits = task, hits
        if best is not None and best_hits >= _RECONCILE_SHARE * len(sample):
            return best.template
        return template

    def _upsert(self, template: Template, prof: AnswerProfile, count: int, examples: list[str]) -> TaskRecord:
        task = self._tasks.get(template.task_id)
        now = time.time()
        if task is None:
            status = "collecting" if prof.kind == "closed" else prof.kind
            task = TaskRecord(template.task_id, template, prof, count, examples, TaskState(status=status), now, now)
            task.state.reason = f"discovered: {prof.kind} ({prof.why})"
            self._tasks[task.task_id] = task
            self.registry.save_task(task)
            self.registry.log(task.task_id, "discovered", None, task.state.reason)
            return task
        task.profile, task.count, task.examples = prof, count, examples
        if prof.kind != "closed" and task.state.status in ("shadow", "promoted"):
            verdict = demote(task.state, f"demoted: the teacher's answers are no longer closed-label ({prof.why})",
                             self.store.last_id())
            self.registry.log(task.task_id, verdict.action, None, verdict.reason)
        if prof.kind != "closed" and task.state.status == "collecting":
            task.state.status = prof.kind
        elif prof.kind == "closed" and task.state.status in ("open", "structured"):
            task.state.status = "collecting"
        self.registry.save_task(task)
        return task

    def _examples(self, task: TaskRecord) -> list[tuple[str, str]]:
        """(payload, label) from the captures of this task, newest ``max_train_examples``."""
        labels = list(task.profile.labels)
        out: list[tuple[str, str]] = []
        for capture in self.store.rows(since_id=task.state.since_capture):
            request = request_shape(capture.messages)
            match = task.template.match(request) if request is not None else None
            label = to_label(capture.answer, labels) if match is not None else None
            if match is not None and label is not None:
                out.append((match.payload, label))
        return out[-self.settings.max_train_examples:]

    def _trainable(self, task_id: str) -> tuple[TaskRecord, list[tuple[str, str]], list[str], dict[str, str]]:
        """(task, its examples, the labels present, their surface forms); InvalidInputError when the task
        cannot have a student (not closed-label, one label, too few examples)."""
        with self._lock:
            task = self._task(task_id)
            prof = task.profile
            if prof.kind != "closed":
                raise InvalidInputError(f"task {task_id} is {prof.kind} ({prof.why}): only closed-label tasks get "
                                        "a student; it stays with the generators")
            if len(prof.labels) < 2:
                raise InvalidInputError(
                    f"task {task_id} has one label ({prof.labels[0] if prof.labels else 'none'!r}) in {prof.n} "
                    "answers: there is nothing to learn; the teacher keeps answering it")
            examples = self._examples(task)
            present = sorted({label for _, label in examples})
            minimum = min(self.settings.min_train_examples, 20)
            if len(examples) < minimum:
                raise InvalidInputError(f"task {task_id} has {len(examples)} usable examples; a student needs "
                                        f"at least {minimum}")
            if len(present) < 2:
                raise InvalidInputError(f"task {task_id}: every usable example has the label {present[0]!r}; "
                                        "a student needs two labels")
            return task, examples, present, {label: prof.surface.get(label, label) for label in present}

    def _to_train(self, task_id: str) -> tuple[TaskRecord, list[tuple[str, str]], list[str], dict[str, str]]:
        """``_trainable``, and refused when the task already has two students."""
        trainable = self._trainable(task_id)
        state = trainable[0].state
        # A third student would be judged only where both defer, yet replace the second where it serves.
        if state.status == "promoted" and state.second_version is not None:
            raise InvalidInputError(f"task {task_id} has two students (v{state.student_version}, then "
                                    f"v{state.second_version}): demote it to train a new one")
        return trainable

    def candidates(self, task_id: str) -> list[CandidateReport]:
        """Score every candidate on all of the task's captured examples, out-of-fold, and keep none: what
        ``train`` would choose from had it seen them all at once (the bench reads it as a ceiling)."""
        _, examples, _, surface = self._trainable(task_id)
        return [r.report if isinstance(r, Trained) else r for r in self._evaluate(examples, surface)]

    def _evaluate(self, examples: list[tuple[str, str]], surface: dict[str, str]) -> list[Trained | CandidateReport]:
        """Every candidate scored out-of-fold and fitted: a head once per installed encoder. (A fine-tuned
        one without ``finetune_python`` costs nothing: its report says how to enable it.)"""
        runs = [(kind, embedder) for kind in self.settings.candidates
                for embedder in (self.embedders.values() if kind == "head" else [self.embedder])]
        with one_blas_thread():
            return [evaluate(kind, examples, surface, self.settings, self.slm, embedder) for kind, embedder in runs]

    def train(self, task_id: str) -> TrainReport:
        """Evaluate every candidate on this task's captured examples and put the best one in shadow (on a
        promoted task: a challenger, shadowing on the requests its student defers).

        Raises InvalidInputError when the task cannot have a student (not closed-label, one label,
        too few examples) or already has two, AlreadyTraining while a ``train_later`` run for it is
        pending. When no candidate meets the target, the report says so and says why.
        """
        if self.training(task_id):
            raise AlreadyTraining(task_id)
        return self._train(task_id)

    def _train(self, task_id: str) -> TrainReport:
        task, examples, present, surface = self._to_train(task_id)
        if task.state.status == "promoted":
            results = self._evaluate(examples, surface)
            reports = [r.report if isinstance(r, Trained) else r for r in results]
            return self._challenge(task, examples, present, surface, results, choose(reports))
        fit_on, held = self._holdout(examples)
        results = self._evaluate(fit_on, surface)
        reports = [r.report if isinstance(r, Trained) else r for r in results]
        chosen = choose(reports)
        with self._lock:
            state = task.state
            if chosen is None:
                best = max(reports, key=lambda r: (r.coverage, r.agreement))
                reason = (f"no student yet: on {len(examples)} examples (out-of-fold) no candidate keeps the Wilson "
                          f"lower bound of agreement >= {self.settings.threshold_agreement:.2f} on >= "
                          f"{self.settings.min_coverage:.0%} of requests (best: {best.name}, agreement "
                          f"{best.agreement:.3f}); retried when the task has more examples")
                state.trained_on = len(examples)
                if state.status == "collecting":
                    state.reason = reason
                self.registry.save_state(task_id, state)
                self.registry.log(task_id, "trained", None, reason)
                return TrainReport(task_id, None, None, len(examples), present, reports, reason)
        student = next(r.student for r in results if isinstance(r, Trained) and r.report is chosen)
        outcomes = self._held_outcomes(student, chosen.threshold, held)
        with self._lock:
            record = self.registry.save_student(task_id, student, threshold=chosen.threshold, labels=present,
                                                surface=surface, reports=reports, n_examples=len(fit_on),
                                                keep=self.settings.max_student_versions)
            self._students[(task_id, record.version)] = (record, student)
            start_shadow(task.state, record.version, chosen.threshold, len(examples))
            reason = (f"trained: {record.name} on {len(fit_on)} examples; out-of-fold agreement "
                      f"{chosen.agreement_served:.3f} (Wilson lower bound {chosen.lower_served:.3f}) at confidence >= "
                      f"{chosen.threshold:.2f} on {chosen.coverage:.0%} of requests ({chosen.p50_ms:.1f} ms p50)")
            if held:
                agreed = sum(outcomes)
                reason += (f"; on the {len(held)} newest captures, held out, it answers {len(outcomes)} "
                           f"and agrees on {agreed}")
            reason += "; in shadow"
            task.state.reason = reason
            self.registry.log(task_id, "trained", record.name, reason)
            verdict = held_out(task.state, outcomes, self.settings)
            if verdict is not None:
                self.registry.log(task_id, verdict.action, record.name, verdict.reason)
                log.info("distill: task %s: %s", task_id, verdict.reason)
            self.registry.save_state(task_id, task.state)
        return TrainReport(task_id, record.name, chosen.threshold, len(examples), present, reports, reason)

    def training(self, task_id: str) -> bool:
        """A ``train_later`` run for this task is queued or running."""
        with self._lock:
            return task_id in self._training

    def train_later(self, task_id: str) -> bool:
        """``train`` on the bookkeeping thread: a fine-tuned candidate takes minutes, longer than a caller
        should hold a request open. What ``train`` would refuse is refused here, before queueing
        (InvalidInputError); the outcome goes to the decision log, and ``status`` shows the task as
        training until then. False when the queue is full; AlreadyTraining when a run for it is pending.
        """
        self._to_train(task_id)
        with self._lock:
            if task_id in self._training:
                raise AlreadyTraining(task_id)
            self._training.add(task_id)

        def job() -> None:
            try:
                self._train(task_id)
            except Exception as exc:  # noqa: BLE001 - the caller has gone: the decision log is where it hears
                self.registry.log(task_id, "error", None, f"training failed: {type(exc).__name__}: {exc}")
                if not isinstance(exc, SlmkitError):
                    raise  # and the worker logs the traceback
            finally:
                with self._lock:
                    self._training.discard(task_id)

        if self._background.submit(job):
            return True
        with self._lock:
            self._training.discard(task_id)
        return False

    def _holdout(self, examples: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(fit on, held out): the newest ``holdout_share`` of the examples, while both parts keep two labels."""
        n = int(len(examples) * self.settings.holdout_share)
        if n < 1 or len({label for _, label in examples[:-n]}) < 2:
            return examples, []
        return examples[:-n], examples[-n:]

    @staticmethod
    def _held_outcomes(student: Student, threshold: float, held: list[tuple[str, str]]) -> list[bool]:
        """Agreement with the teacher on the held-out examples the student would have served."""
        if not held:
            return []
        predictions = student.predict([payload for payload, _ in held])
        return [p.label == label for p, (_, label) in zip(predictions, held, strict=True) if p.confidence >= threshold]

    def _serving_coverage(self, task: TaskRecord) -> float:
        """Out-of-fold coverage the serving student was chosen with."""
        if task.state.student_version is None:
            return 0.0
        try:
            record = self.registry.student(task.task_id, task.state.student_version)
        except NotTrainedError:
            return 0.0
        return max((r["coverage"] for r in record.reports
                    if r["kind"] == record.kind and r.get("encoder") == record.encoder), default=0.0)

    def _challenge(self, task: TaskRecord, examples: list[tuple[str, str]], present: list[str],
                   surface: dict[str, str], results: list[Trained | CandidateReport],
                   chosen: CandidateReport | None) -> TrainReport:
        """Training a promoted task: a clearly better student shadows beside the serving one."""
        reports = [r.report if isinstance(r, Trained) else r for r in results]
        serving = self._serving_coverage(task)
        with self._lock:
            state = task.state
            if chosen is None or chosen.coverage < serving + self.settings.min_challenge_gain:
                state.challenger_trained_on = len(examples)
                best = f"{chosen.name} answers {chosen.coverage:.0%}" if chosen else "no candidate meets the target"
                reason = (f"kept v{state.student_version} (answers {serving:.0%} out-of-fold): on {len(examples)} "
                          f"examples {best}; a challenger needs +{self.settings.min_challenge_gain:.0%}")
                self.registry.save_state(task.task_id, state)
                self.registry.log(task.task_id, "trained", None, reason)
                return TrainReport(task.task_id, None, None, len(examples), present, reports, reason)
            student = next(r.student for r in results if isinstance(r, Trained) and r.report is chosen)
            protect = [v for v in (state.student_version, state.second_version) if v is not None]
            record = self.registry.save_student(task.task_id, student, threshold=chosen.threshold, labels=present,
                                                surface=surface, reports=reports, n_examples=len(examples),
                                                keep=self.settings.max_student_versions, protect=protect)
            self._students[(task.task_id, record.version)] = (record, student)
            start_challenger(state, record.version, chosen.threshold, len(examples))
            reason = (f"trained: challenger {record.name} on {len(examples)} examples; out-of-fold agreement "
                      f"{chosen.agreement_served:.3f} at confidence >= {chosen.threshold:.2f} on {chosen.coverage:.0%} "
                      f"of requests (serving v{protect[0] if protect else '?'}: {serving:.0%}); shadowing on the "
                      "requests it defers")
            self.registry.save_state(task.task_id, state)
            self.registry.log(task.task_id, "trained", record.name, reason)
        return TrainReport(task.task_id, record.name, chosen.threshold, len(examples), present, reports, reason)

    def maintain(self) -> list[Event]:
        """Rediscover tasks and (re)train the students that are due; the decisions taken."""
        self._since_maintain = 0
        if self.store.count() == 0:
            return []
        mark = self.registry.last_event_id()
        discovery = self.discover()
        for found in discovery.tasks:
            task = self._tasks[found.task_id]
            state = task.state
            if found.kind != "closed" or len(found.labels) < 2 or state.held or self.training(task.task_id):
                continue  # (a run queued by train_later is ahead on this very thread)
            n = sum(i > state.since_capture for i in discovery.members.get(task.task_id, []))
            grown = state.trained_on > 0 and n >= state.trained_on * self.settings.retrain_growth
            # A shadow student on course keeps its evidence: a new version would start shadow over.
            # One still undecided after ``max_shadow`` comparisons (agreement near the target: neither bound
            # crosses it) would block its task for good; a fit on more data gets its own held-out evidence.
            off_course = state.shadow_n < self.settings.min_shadow or state.shadow_n >= self.settings.max_shadow or (
                state.shadow_agree < self.settings.agreement_target * state.shadow_n)
            challenge_due = (self.settings.challengers and state.status == "promoted"
                             and state.challenger_version is None and state.second_version is None
                             and state.error is None
                             and n >= max(state.trained_on, state.challenger_trained_on) * self.settings.retrain_growth)
            retry = state.trained_on > 0 and n >= state.trained_on * self.settings.retry_growth
            due = (state.status == "collecting" and n >= self.settings.min_train_examples
                   and (state.trained_on == 0 or retry)) or (state.status == "shadow" and grown and off_course) \
                or challenge_due
            if not due:
                continue
            try:
                self.train(task.task_id)
            except SlmkitError as exc:
                self.registry.log(task.task_id, "error", None, f"training failed: {exc}")
        return self.registry.events_after(mark)

    # -- operating it -----------------------------------------------------------------------------
    def promote(self, task_id: str) -> Event:
        """Serve this task from its current student now, whatever its shadow record says."""
        with self._lock:
            task = self._task(task_id)
            if task.state.student_version is None:
                raise NotTrainedError(f"task {task_id} has no student; train one with `slmkit distill train {task_id}`")
            if task.state.error is not None:
                raise NotTrainedError(f"task {task_id}'s student cannot answer ({task.state.error})")
            verdict = promote(task.state, f"promoted by hand; {shadow_summary(task.state, self.settings)}")
            self.registry.save_state(task_id, task.state)
            return self.registry.log(task_id, verdict.action, f"v{task.state.student_version}", verdict.reason)

    def demote(self, task_id: str, reason: str = "by hand") -> Event:
        """Send this task back to the teacher; it stays there (no automatic retraining) until trained again."""
        with self._lock:
            task = self._task(task_id)
            verdict = demote(task.state, f"demoted: {reason}", self.store.last_id(), held=True)
            self.registry.save_state(task_id, task.state)
            return self.registry.log(task_id, verdict.action, None, verdict.reason)

    def status(self) -> list[TaskStatus]:
        out = []
        with self._lock:
            for task in self._tasks.values():
                s = task.state
                lower = wilson(s.shadow_agree, s.shadow_n, self.settings.wilson_z)[0] if s.shadow_n else None
                student = self._name(task.task_id, s.student_version)
                out.append(TaskStatus(
                    task.task_id, task.template.describe(), task.profile.kind, s.status, task.count,
                    list(task.profile.labels), student, s.threshold if s.student_version else None, s.shadow_n,
                    s.shadow_agree / s.shadow_n if s.shadow_n else None, lower, s.served, s.sampled,
                    s.sampled_agree / s.sampled if s.sampled else None, s.deferred, s.served_share,
                    (s.served - s.sampled) * s.mean_teacher_cost, s.held, s.reason, s.error,
                    task.task_id in self._training,
                    self._name(task.task_id, s.second_version), self._name(task.task_id, s.challenger_version),
                    s.challenger_n,
                    s.challenger_agree / s.challenger_n if s.challenger_n else None))
        return out

    def _name(self, task_id: str, version: int | None) -> str | None:
        """A student's name when it is loaded ("head v3 (minilm-l6-int8)"), else "v3"; None for no version."""
        if version is None:
            return None
        loaded = self._students.get((task_id, version))
        return loaded[0].name if loaded is not None else f"v{version}"

    def events(self, task_id: str | None = None, limit: int = 100) -> list[Event]:
        return self.registry.events(task_id, limit)

    def template(self, task_id: str) -> Template:
        return self._task(task_id).template

    def students(self, task_id: str) -> list[StudentRecord]:
        """The task's student versions kept on disk, with every candidate's report."""
        self._task(task_id)
        return self.registry.students(task_id)

    def clear(self) -> None:
        """Forget every capture, task, student and decision of this data directory."""
        with self._lock:
            self.store.clear()
            self.registry.clear()
            self._tasks.clear()
            self._students.clear()
