"""What kind of task a template is, read from the teacher's answers: closed-label, structured or open.

Answers are compared after normalisation (case, surrounding quotes and markup, a final full
stop), so "Positive." and "positive" are one label; the answer served back to a client is the
teacher's own commonest spelling of that label (its *surface form*).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["closed", "structured", "open"]

_FENCE = re.compile(r"^```[a-zA-Z]*\s*|\s*```$")
_LEAD = re.compile(r"^(?:answer|label|output|result)\s*[:=-]\s*", re.IGNORECASE)
_SPACES = re.compile(r"\s+")
_STRIP = " \t\r\n\"'`*_"


def normalise(text: str) -> str:
    """Case-folded, trimmed, without quotes, bold markers, a leading 'Answer:' or a final '.'/'!'."""
    t = _FENCE.sub("", text.strip()).strip(_STRIP)
    t = _LEAD.sub("", t).strip(_STRIP)
    t = t.rstrip(".!").strip(_STRIP)
    return _SPACES.sub(" ", t).casefold()


def to_label(text: str, labels: Sequence[str]) -> str | None:
    """The label a teacher answer means: its normalised form, or the one label a longer answer names."""
    norm = normalise(text)
    if norm in labels:
        return norm
    # "The sentiment is positive." names exactly one label: that one. Two named: undecided.
    named = [label for label in labels if re.search(rf"(?<!\w){re.escape(label)}(?!\w)", norm)]
    return named[0] if len(named) == 1 else None


def parse_json_object(text: str) -> dict | None:
    t = _FENCE.sub("", text.strip()).strip()
    try:
        value = json.loads(t)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _json_type(value: object) -> str:
    return {bool: "boolean", int: "integer", float: "number", str: "string", list: "array",
            dict: "object", type(None): "null"}.get(type(value), "string")


@dataclass(frozen=True)
class AnswerProfile:
    kind: Kind
    n: int
    labels: tuple[str, ...] = ()  # closed: normalised labels, commonest first
    counts: dict[str, int] = field(default_factory=dict)  # closed: answers per label
    surface: dict[str, str] = field(default_factory=dict)  # closed: the teacher's commonest raw answer per label
    coverage: float = 0.0  # closed: share of answers mapped to a label; structured: share with the schema
    schema: dict[str, str] = field(default_factory=dict)  # structured: key -> JSON type
    why: str = ""

    def to_dict(self) -> dict:
        return {"kind": self.kind, "n": self.n, "labels": list(self.labels), "counts": self.counts,
                "surface": self.surface, "coverage": self.coverage, "schema": self.schema, "why": self.why}

    @classmethod
    def from_dict(cls, data: dict) -> AnswerProfile:
        return cls(data["kind"], data["n"], tuple(data["labels"]), data["counts"], data["surface"],
                   data["coverage"], data["schema"], data.get("why", ""))


def _structured(answers: Sequence[str], share: float, schema_share: float) -> AnswerProfile | None:
    objects = [o for o in (parse_json_object(a) for a in answers) if o is not None]
    if len(objects) < share * len(answers):
        return None
    keysets = Counter(tuple(sorted(o)) for o in objects)
    keys, count = keysets.most_common(1)[0]
    if count < schema_share * len(objects) or not keys:
        return None
    example = next(o for o in objects if tuple(sorted(o)) == keys)
    schema = {k: _json_type(example[k]) for k in keys}
    return AnswerProfile("structured", len(answers), coverage=count / len(answers), schema=schema,
                         why=f"{count}/{len(answers)} answers are JSON objects with keys {', '.join(keys)}")


def profile(answers: Sequence[str], *, coverage: float = 0.95, max_labels: int = 30, min_label_count: int = 3,
            structured_share: float = 0.95, schema_share: float = 0.9) -> AnswerProfile:
    """Closed-label when a few frequent answers cover ``coverage`` of them; structured when they are JSON
    objects with a stable key set; open otherwise."""
    n = len(answers)
    if n == 0:
        return AnswerProfile("open", 0, why="no answers")
    structured = _structured(answers, structured_share, schema_share)
    if structured is not None:
        return structured
    norms = [normalise(a) for a in answers]
    frequent = [(v, c) for v, c in Counter(norms).most_common() if c >= min_label_count and v]
    labels: list[str] = []
    covered = 0
    for value, count in frequent:
        if covered >= coverage * n or len(labels) >= max_labels:
            break
        labels.append(value)
        covered += count
    mapped = [to_label(a, labels) for a in answers] if labels else [None] * n
    share = sum(m is not None for m in mapped) / n
    if not labels or share < coverage:
        top = ", ".join(f"{v!r} x{c}" for v, c in Counter(norms).most_common(3))
        return AnswerProfile("open", n, coverage=share,
                             why=f"{len(set(norms))} distinct answers; the {len(labels)} frequent ones cover "
                                 f"{share:.0%} < {coverage:.0%} (commonest: {top})")
    counts = Counter(m for m in mapped if m is not None)
    raw: dict[str, Counter[str]] = {label: Counter() for label in labels}
    for answer, label in zip(answers, mapped, strict=True):
        if label is not None and normalise(answer) == label:
            raw[label][answer.strip()] += 1
    surface = {label: (raw[label].most_common(1)[0][0] if raw[label] else label) for label in labels}
    ordered = tuple(sorted(labels, key=lambda label: -counts[label]))
    return AnswerProfile("closed", n, ordered, {label: counts[label] for label in ordered}, surface, share,
                         why=f"{len(labels)} label(s) cover {share:.1%} of {n} answers")
