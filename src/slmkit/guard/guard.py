"""The guard: a policy applied to text on its way to a model, returning what changed and why.

    guard = Guard(GuardPolicy(redact="reversible")).warm_up()
    checked = guard.check("Email anna.k@example.com the Q3 figures", destination="remote")
    answer = remote_model(checked.text)          # sees [EMAIL_1], never the address
    guard.restore(answer, checked)               # the address is back, on this machine

Order matters: moderation and injection are judged on the original text (redaction
would hide the words they look for), then PII is redacted, then the egress rules
decide whether the text may go where it was headed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

from slmkit.config.guard import GuardPolicy
from slmkit.errors import InvalidInputError
from slmkit.guard.redact import Vault, redact
from slmkit.skills.base import clean
from slmkit.skills.classify import Classify
from slmkit.skills.moderate import Moderate
from slmkit.skills.pii import PII_TYPES, Pii

Destination = Literal["local", "remote"]


@dataclass(frozen=True)
class Change:
    kind: Literal["redact", "flag", "block", "keep_local"]
    reason: str
    type: str | None = None  # PII type, moderation category or injection rule
    placeholder: str | None = None  # for redactions: the token that replaced the value (never the value)


@dataclass
class GuardResult:
    text: str  # what may be sent (redacted where the policy says so)
    allowed: bool  # False: do not send it anywhere (blocked by moderation or injection)
    destination: Destination  # may be "local" where "remote" was asked: the egress rules said so
    changes: list[Change] = field(default_factory=list)
    vault: Vault | None = None  # reversible mode only; stays on this machine
    moderation_score: float | None = None
    injection_score: float | None = None

    def to_dict(self) -> dict:
        """For the trace: everything but the vault."""
        out = asdict(self)
        out.pop("vault")
        return out


def check_pii_types(types: Sequence[str] | None) -> None:
    """Refuse PII type names the pii skill does not know. The settings cannot check them: they sit
    below the skills, and only the skill knows its types."""
    unknown = set(types or ()) - set(PII_TYPES)
    if unknown:
        raise InvalidInputError(f"unknown PII type(s) {sorted(unknown)}; known: {', '.join(PII_TYPES)}")


class Guard:
    name = "guard"

    def __init__(self, policy: GuardPolicy | None = None) -> None:
        self.policy = policy or GuardPolicy()
        check_pii_types(self.policy.pii_types)  # a misspelt type fails here, at startup, not on a request
        self._pii: Pii | None = None
        self._moderate: Moderate | None = None
        self._labels: Classify | None = None

    def warm_up(self) -> Guard:
        p = self.policy
        if self._pii is None:
            self._pii = Pii(p.pii_types, p.pii_threshold).warm_up()
        if self._moderate is None and (p.moderation != "off" or p.injection != "off"):
            self._moderate = Moderate(threshold=p.moderation_threshold, injection=p.injection != "off").warm_up()
        if self._labels is None and p.local_only_labels:
            self._labels = Classify.load(p.label_head).warm_up()  # type: ignore[arg-type]
        return self

    def check(self, text: object, destination: Destination = "remote", vault: Vault | None = None) -> GuardResult:
        """Apply the policy to one text. Pass the same ``vault`` for every message of one request."""
        (text_in,), _ = clean([text])
        self.warm_up()
        p = self.policy
        changes: list[Change] = []
        allowed = True
        moderation_score = injection_score = None

        if self._moderate is not None:
            verdict = self._moderate(text_in)
            if p.moderation != "off":
                moderation_score = verdict.score
                if verdict.flagged:
                    top = verdict.flagged_categories[0] if verdict.flagged_categories else None
                    changes.append(Change(p.moderation, f"moderation score {verdict.score:.2f} >= "
                                          f"{p.moderation_threshold}", top))
                    allowed = allowed and p.moderation != "block"
            if p.injection != "off" and verdict.injection is not None:
                injection_score = verdict.injection.score
                if verdict.injection.detected:
                    changes.append(Change(p.injection, f"prompt-injection pattern(s): {', '.join(verdict.injection.rules)}",
                                          verdict.injection.rules[0] if verdict.injection.rules else None))
                    allowed = allowed and p.injection != "block"

        if self._labels is not None:
            label = self._labels(text_in).label
            if label in p.local_only_labels and destination == "remote":
                destination = "local"
                changes.append(Change("keep_local", f"classified {label!r}, a label that stays local", label))

        assert self._pii is not None  # warm_up built it
        spans = self._pii(text_in)
        out_text = text_in
        redact_here = p.redact != "off" and (destination == "remote" or p.redact_local)
        if redact_here and spans:
            vault = vault if vault is not None else Vault()
            redacted = redact(text_in, spans, p.redact, vault)  # type: ignore[arg-type]
            out_text = redacted.text
            changes += [Change("redact", "personal data", kind, token) for kind, token in redacted.replacements]
            vault = redacted.vault
        elif spans and destination == "remote" and p.unredacted_pii_remote == "refuse":
            destination = "local"
            kinds = sorted({s.type for s in spans})
            changes.append(Change("keep_local", f"unredacted personal data ({', '.join(kinds)}) never goes remote"))
        return GuardResult(out_text, allowed, destination, changes,
                           vault if p.redact == "reversible" and redact_here and spans else None,
                           moderation_score, injection_score)

    def check_messages(self, messages: list[dict], destination: Destination = "remote") -> tuple[list[dict], GuardResult]:
        """Guard a chat: every message's content through one vault, so placeholders agree across turns.
        Returns the guarded messages and one combined result."""
        vault = Vault()
        guarded = []
        combined = GuardResult("", True, destination)
        for message in messages:
            result = self.check(message["content"], destination, vault)
            guarded.append({**message, "content": result.text})
            combined.allowed &= result.allowed
            combined.changes += result.changes
            if result.destination == "local":
                combined.destination = "local"
            for score_name in ("moderation_score", "injection_score"):
                value = getattr(result, score_name)
                if value is not None:
                    setattr(combined, score_name, max(value, getattr(combined, score_name) or 0.0))
        combined.vault = vault if vault.by_placeholder else None
        if combined.destination == "local":
            # Something forced local: the local tier may see the text as written.
            guarded = [dict(m) for m in messages] if not self.policy.redact_local else guarded
        return guarded, combined

    @staticmethod
    def restore(answer: str, result: GuardResult) -> str:
        """Re-personalise a model's answer with the values this request's placeholders stand for."""
        return result.vault.restore(answer) if result.vault is not None else answer
