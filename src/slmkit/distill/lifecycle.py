"""A task's life: collecting -> shadow -> promoted -> (drift) demoted -> collecting, with a reason each time.

- *shadow*: the student answers beside the teacher; only requests it would serve (confidence at or
  above its threshold) count. Promoted when, after ``min_shadow`` of them, the Wilson lower bound of
  its agreement with the teacher reaches ``agreement_target``; rejected when the Wilson *upper*
  bound falls below it (it will not get there: retrain on more data). The first comparisons may be
  *held-out captures*: the newest of the task's captured requests, kept from training and from the
  choice of candidate and threshold (``holdout_share``). The student has never seen them, so they
  are the comparisons shadowing would have made had it existed then, and counting them spares
  that wait; they are counted apart in the reasons.
- *promoted*: the student answers when confident, the teacher otherwise (a cascade per task), and
  ``sample_rate`` of served requests also go to the teacher. Demoted when the Wilson upper bound of
  agreement over the latest ``drift_window`` samples is below the target: evidence, not one unlucky
  sample, that agreement dropped (drift). The window restarts at promotion, so it reads only what
  the promoted students did.
- *a second student*: when the task's data has grown, a *challenger* fitted on it (often a stronger
  kind, once there are enough examples for it) shadows on the requests the serving student defers.
  Those reach the teacher anyway, so its evidence costs no teacher call, and it is judged on exactly
  the requests it would take over. Confirmed on the same terms as a promotion, it becomes the
  task's second student: it answers what the first defers, when confident. Each part of the
  cascade then has its own confirmed agreement, so their union keeps the target. A task has at
  most two students; a demotion clears both.

These functions only change a :class:`TaskState`; the distiller stores it and logs the verdicts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from slmkit.distill.settings import DistillSettings
from slmkit.distill.stats import wilson

Status = Literal["collecting", "shadow", "promoted", "open", "structured"]
Action = Literal["trained", "promote", "demote", "reject", "discovered", "error"]


@dataclass
class TaskState:
    status: Status = "collecting"
    student_version: int | None = None
    threshold: float = 1.01
    held: bool = False  # demoted by hand: no automatic training or promotion until told
    shadow_n: int = 0  # shadow comparisons the student would have served
    shadow_agree: int = 0
    window: list[int] = field(default_factory=list)  # latest comparisons while promoted, 1 = agreed
    served: int = 0  # answered by the student (sampled ones included)
    sampled: int = 0  # served and also sent to the teacher
    sampled_agree: int = 0
    deferred: int = 0  # promoted, but the student was not confident: the teacher answered
    shadowed: int = 0  # every shadow request, confident or not
    held_n: int = 0  # of shadow_n: comparisons on held-out captures the student never saw
    teacher_cost: float = 0.0  # summed over teacher answers seen with a student present
    teacher_answers: int = 0
    since_capture: int = 0  # train only on captures after this id (set by a demotion)
    trained_on: int = 0  # examples the current student was fitted on
    # A second student answers what the first defers (confirmed on exactly those requests).
    second_version: int | None = None
    second_threshold: float = 1.01
    # A challenger: a newer student (more data) shadowing on the requests the promoted one defers.
    challenger_version: int | None = None
    challenger_threshold: float = 1.01
    challenger_n: int = 0
    challenger_agree: int = 0
    challenger_trained_on: int = 0
    reason: str = ""  # the last decision, for status
    error: str | None = None  # why the student cannot answer (file missing...), until retrained

    @property
    def mean_teacher_cost(self) -> float:
        return self.teacher_cost / self.teacher_answers if self.teacher_answers else 0.0

    @property
    def served_share(self) -> float:
        total = self.served + self.deferred
        return self.served / total if total else 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TaskState:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Verdict:
    action: Action
    reason: str


def start_shadow(state: TaskState, version: int, threshold: float, trained_on: int) -> None:
    state.status = "shadow"
    state.student_version = version
    state.threshold = threshold
    state.shadow_n = state.shadow_agree = state.held_n = 0
    state.window = []
    state.trained_on = trained_on
    state.error = None
    drop_second(state)


def start_challenger(state: TaskState, version: int, threshold: float, trained_on: int) -> None:
    state.challenger_version = version
    state.challenger_threshold = threshold
    state.challenger_n = state.challenger_agree = 0
    state.challenger_trained_on = trained_on


def drop_challenger(state: TaskState) -> None:
    state.challenger_version = None
    state.challenger_n = state.challenger_agree = 0


def challenge(state: TaskState, agreed: bool, settings: DistillSettings) -> Verdict | None:
    """Count one comparison of a confident challenger on a request the serving student deferred; it becomes
    the task's second student on the terms a shadow student is promoted on, or is dropped when it
    clearly misses the target (or stays undecided for ``max_challenge`` comparisons)."""
    if state.status != "promoted" or state.challenger_version is None:
        return None
    state.challenger_n += 1
    state.challenger_agree += int(agreed)
    n, k, target = state.challenger_n, state.challenger_agree, settings.agreement_target
    if n < settings.min_shadow:
        return None
    low, high = wilson(k, n, settings.wilson_z)
    first, version = state.student_version, state.challenger_version
    if low >= target:
        state.second_version, state.second_threshold = version, state.challenger_threshold
        drop_challenger(state)
        state.reason = (f"promoted: v{version} answers what v{first} defers: agreement {k / n:.3f} over {n} "
                        f"deferred requests, Wilson lower bound {low:.3f} >= {target:.2f}")
        return Verdict("promote", state.reason)
    if high < target or n >= settings.max_challenge:
        drop_challenger(state)
        why = (f"Wilson upper bound {high:.3f} < {target:.2f}" if high < target else
               f"undecided after {n} comparisons (Wilson bounds {low:.3f}-{high:.3f})")
        return Verdict("reject", f"rejected: challenger v{version}: agreement {k / n:.3f} over {n} deferred "
                                 f"requests, {why}; v{first} keeps serving alone")
    return None


def drop_second(state: TaskState) -> None:
    state.second_version = None
    state.second_threshold = 1.01


def promote(state: TaskState, reason: str) -> Verdict:
    state.status = "promoted"
    state.window = []
    state.held = False
    state.reason = reason
    return Verdict("promote", reason)


def demote(state: TaskState, reason: str, last_capture: int, *, held: bool = False) -> Verdict:
    state.status = "collecting"
    state.since_capture = last_capture  # what came before may no longer be what the teacher says
    state.trained_on = 0
    drop_challenger(state)
    drop_second(state)
    state.held = held
    state.reason = reason
    return Verdict("demote", reason)


def shadow_summary(state: TaskState, settings: DistillSettings) -> str:
    n, k = state.shadow_n, state.shadow_agree
    low, _ = wilson(k, n, settings.wilson_z)
    agreement = k / n if n else 0.0
    return (f"in shadow: agreement {agreement:.3f} over {n} comparisons, Wilson lower bound {low:.3f} "
            f"(promotion at >= {settings.agreement_target:.2f} after >= {settings.min_shadow})")


def _evidence(state: TaskState) -> str:
    n, held = state.shadow_n, state.held_n
    if not held:
        return f"{n} shadow requests"
    return f"{n} comparisons ({held} held-out captures it never saw, {n - held} shadow requests)"


def _shadow_decision(state: TaskState, settings: DistillSettings) -> Verdict | None:
    """Promote or reject a shadow student on the comparisons counted so far; None: not decided yet."""
    n, k, target = state.shadow_n, state.shadow_agree, settings.agreement_target
    if n < settings.min_shadow:
        return None
    low, high = wilson(k, n, settings.wilson_z)
    if low >= target and settings.auto_promote and not state.held:
        return promote(state, f"promoted: agreement {k / n:.3f} over {_evidence(state)}, "
                              f"Wilson lower bound {low:.3f} >= {target:.2f}")
    if high < target:
        state.status = "collecting"
        state.reason = (f"rejected: agreement {k / n:.3f} over {_evidence(state)}, Wilson upper bound "
                        f"{high:.3f} < {target:.2f}; retrained when the task has more examples")
        return Verdict("reject", state.reason)
    return None


def held_out(state: TaskState, outcomes: Sequence[bool], settings: DistillSettings) -> Verdict | None:
    """Count a new shadow student's confident answers on held-out captures as its first comparisons.

    All of them are counted before deciding (not one by one), so the verdict reads the whole
    held-out evidence; live shadow requests then add to it.
    """
    if state.status != "shadow" or not outcomes:
        return None
    state.shadow_n += len(outcomes)
    state.shadow_agree += sum(bool(o) for o in outcomes)
    state.held_n += len(outcomes)
    return _shadow_decision(state, settings)


def compare(state: TaskState, agreed: bool, settings: DistillSettings, last_capture: int) -> Verdict | None:
    """Count one comparison of a student that would have served; the promotion or demotion it triggers."""
    z, target = settings.wilson_z, settings.agreement_target
    if state.status == "shadow":
        state.shadow_n += 1
        state.shadow_agree += int(agreed)
        return _shadow_decision(state, settings)
    if state.status == "promoted":
        state.sampled_agree += int(agreed)
        state.window = [*state.window, int(agreed)][-settings.drift_window:]
        n, k = len(state.window), sum(state.window)
        if n < settings.min_drift_samples or not settings.auto_demote:
            return None
        _, high = wilson(k, n, z)
        if high < target:
            return demote(state, f"demoted: agreement {k / n:.2f} < {target:.2f} over last {n} samples "
                                 f"(Wilson upper bound {high:.3f})", last_capture)
    return None
