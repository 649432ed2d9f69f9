"""Planner and executor settings (the ``plan:`` section); pydantic only.

    plan:
      planner: auto          # small | large | auto (the large tier plans requests that look hard)
      replans: 2             # re-plans with the validator's complaints before giving up on a tier
      tool_choice: auto      # all | shortlist | auto | embedding (how each step's tool is picked)
      shortlist_k: 3
      step_timeout_s: 120
      max_workers: 4
      workflows_dir: ~/slmkit-workflows
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

PlannerChoice = Literal["small", "large", "auto"]
# How a planner picks each step's tool:
#   all        one call, every tool offered (the planner before per-ask shortlists; kept as the baseline)
#   shortlist  the asks are written first; each ask's step may use only its shortlisted tools
#   auto       as shortlist, and an ask whose best tool is clearly ahead gets it without the generator choosing
#   embedding  every ask gets its most similar tool: the generator writes the asks and the arguments only
ToolChoice = Literal["all", "shortlist", "auto", "embedding"]
TOOL_CHOICES: tuple[str, ...] = get_args(ToolChoice)
# How the shortlist scores a tool for an ask (plan/shortlist.py): the probability of a head trained on the
# tools' descriptions and example asks, or cosine similarity to the nearest of those texts
ShortlistMethod = Literal["head", "similarity"]


class PlanSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    planner: PlannerChoice = "auto"
    # auto: a request with at least this many separate asks goes to the large tier's planner
    hard_request_tasks: int = Field(4, ge=1, le=50)
    max_steps: int = Field(8, ge=1, le=32)
    replans: int = Field(2, ge=0, le=10)
    plan_max_tokens: int = Field(512, ge=64, le=4096)
    tool_choice: ToolChoice = "auto"
    shortlist_k: int = Field(3, ge=1, le=16)  # tools offered per ask
    # auto: the best tool is taken without asking the generator when its similarity to the ask is at
    # least clear_score and at least clear_margin above the second tool's
    clear_score: float = Field(0.5, ge=-1.0, le=1.0)
    clear_margin: float = Field(0.1, ge=0.0, le=2.0)
    shortlist_method: ShortlistMethod = "head"
    # auto and embedding: when the shortlist's best tool scores at least this for every clause of the request
    # (split by rule), those clauses are the asks and the generator's asks call is skipped; None: always ask it
    asks_by_rule_score: float | None = Field(0.8, ge=0.0, le=1.0)
    shortlist_model: str | None = None  # encoder for the shortlist; None: the default embed_model
    asks_max_tokens: int = Field(160, ge=16, le=1024)
    step_timeout_s: float = Field(120.0, gt=0)
    max_workers: int = Field(4, ge=1, le=64)
    compose: bool = True  # planned runs end with a step that writes the answer from the steps' outputs
    compose_max_tokens: int = Field(384, ge=16, le=4096)
    workflows_dir: Path | None = None  # default: <data_dir>/workflows; the packaged examples are always found
