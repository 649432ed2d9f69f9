"""What the guard does to text before it leaves the machine: one pydantic model, loadable from YAML.

    guard:
      redact: reversible          # off | mask | hash | reversible
      moderation: flag            # off | flag | block
      injection: flag             # off | flag | block
      unredacted_pii_remote: refuse   # refuse | allow: the egress rule for PII with redaction off
      local_only_labels: [hr_case, medical]
      label_head: sensitivity     # a trained classify head deciding those labels

The PII type names in ``pii_types`` are checked against the pii skill when a Guard is built
(slmkit.guard.guard): the skill, not the settings, knows which types exist.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Action = Literal["off", "flag", "block"]


class GuardPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    redact: Literal["off", "mask", "hash", "reversible"] = "reversible"
    pii_types: list[str] | None = None  # None: every type the pii skill knows; the Guard checks the names
    pii_threshold: float = Field(0.4, ge=0.0, le=1.0)
    redact_local: bool = False  # local tiers see the text as written unless this is set
    moderation: Action = "flag"
    moderation_threshold: float = Field(0.5, ge=0.0, le=1.0)
    injection: Action = "flag"
    # The egress rule when redaction is off: refuse sends personal data nowhere but to local tiers.
    unredacted_pii_remote: Literal["refuse", "allow"] = "refuse"
    local_only_labels: list[str] = Field(default_factory=list)
    label_head: str | None = None  # name of a trained classify head; needed when local_only_labels is set

    @property
    def is_off(self) -> bool:
        """Nothing to check or change: text may go anywhere as written."""
        return (self.redact == "off" and self.moderation == "off" and self.injection == "off"
                and not self.local_only_labels and self.unredacted_pii_remote == "allow")

    @model_validator(mode="after")
    def _head_with_labels(self) -> GuardPolicy:
        if self.local_only_labels and not self.label_head:
            raise ValueError("local_only_labels needs label_head: the trained classify head that assigns them")
        return self
