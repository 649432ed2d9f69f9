"""What the router decided and what it cost: one record per request, for logs, traces and headers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slmkit.distill.distiller import StudentAnswer


@dataclass
class Decision:
    tier: str  # the tier (or route target) that answered
    strategy: str  # small | large | cascade | learned | combined | semantic | pinned | distill
    confidence: float | None = None  # the number the decision was taken on
    threshold: float | None = None
    route: str | None = None  # the semantic route matched, if any
    escalated: bool = False  # the cascade ran the small tier, then the large one
    fallback: str | None = None  # why the planned tier was replaced, when it was
    latency_ms: float = 0.0  # decision plus answer
    decision_ms: float = 0.0  # choosing the tier alone
    cost: float = 0.0  # estimated USD for this request, every tier it touched
    large_cost: float = 0.0  # what sending it straight to the large tier would have cost
    tiers_tried: list[str] = field(default_factory=list)
    guard: dict[str, Any] | None = None  # what the guard changed before text left the machine, and why
    task: str | None = None  # the distilled task this request belongs to, when it matched one
    student: str | None = None  # that task's student ("head v2"), which answered or was compared
    teacher: str | None = None  # the teacher tier that student stands in for
    distill: str | None = None  # the distiller's own line: served, shadow, deferred, sampled, and why
    # The student's answer, kept for the comparison after the teacher has answered; not part of the record.
    pending: StudentAnswer | None = field(default=None, repr=False, compare=False)

    @property
    def saving(self) -> float:
        return self.large_cost - self.cost

    @property
    def reason(self) -> str:
        """One line on why this tier answered: what headers, logs and the CLI show."""
        if self.strategy == "distill" and self.distill:
            return self.distill
        base = self._route_reason()
        return f"{base}; {self.distill}" if self.distill else base

    def _route_reason(self) -> str:
        if self.fallback:
            return f"fallback to {self.tier}: {self.fallback}"
        if self.strategy == "pinned":
            return f"the request named tier {self.tier}"
        if self.strategy == "semantic":
            return f"semantic route {self.route} (score {self.confidence or 0:.2f} >= {self.threshold or 0:.2f})"
        if self.strategy in ("cascade", "combined") and self.confidence is not None:
            verdict = "escalated" if self.escalated else "accepted"
            return (f"{self.strategy}: small-tier confidence {self.confidence:.2f} vs threshold "
                    f"{self.threshold or 0:.2f}, {verdict}")
        if self.strategy == "learned" and self.confidence is not None:
            return f"learned router: needs-large probability {self.confidence:.2f} vs {self.threshold or 0:.2f}"
        return f"strategy {self.strategy}"

    def to_dict(self) -> dict[str, Any]:
        out = asdict(replace(self, pending=None))
        out.pop("pending")
        return {**out, "saving": self.saving, "reason": self.reason}
