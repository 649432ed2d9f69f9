"""Planner and executor settings (the ``plan:`` section); pydantic only.

    plan:
      planner: auto          # small | large | auto (the large tier plans requests that look hard)
      replans: 2             # re-plans with the validator's complaints before giving up on a tier
      step_timeout_s: 120
      max_workers: 4
      workflows_dir: ~/slmkit-workflows
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PlannerChoice = Literal["small", "large", "auto"]


class PlanSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planner: PlannerChoice = "auto"
    # auto: a request with at least this many separate asks goes to the large tier's planner
    hard_request_tasks: int = Field(4, ge=1, le=50)
    max_steps: int = Field(8, ge=1, le=32)
    replans: int = Field(2, ge=0, le=10)
    plan_max_tokens: int = Field(512, ge=64, le=4096)
    step_timeout_s: float = Field(120.0, gt=0)
    max_workers: int = Field(4, ge=1, le=64)
    compose: bool = True  # planned runs end with a step that writes the answer from the steps' outputs
    compose_max_tokens: int = Field(384, ge=16, le=4096)
    workflows_dir: Path | None = None  # default: <data_dir>/workflows; the packaged examples are always found
