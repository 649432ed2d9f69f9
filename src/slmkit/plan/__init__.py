"""Planner and workflows: a complex request becomes a small graph of steps, each run by the right tool.

tools      the registry: typed tools with JSON schema (``@tool`` for your own functions)
builtin    the shipped tools: every specialist, RAG search/answer, the generator tiers, queues
graph      plans: steps, references between them, validation and repair
shortlist  per ask, the tools most likely to serve it (a head on the tools' descriptions and example asks)
fill       the steps a rule writes without the generator (a fixed tool reading the one quoted passage)
planner    a generator writes the plan under a grammar; checked, mended, re-planned, escalated
executor   runs a plan concurrently with timeouts, retries, fallbacks and partial results
workflow   the same step graph fixed in YAML, for repeated pipelines
runner     ``Orchestrator``: plan + run, or run a workflow (what the CLI and gateway call)
"""

from __future__ import annotations

from typing import Any

__all__ = ["Orchestrator", "Workflow", "tool", "ToolRegistry"]


def __getattr__(name: str) -> Any:  # keeps `import slmkit.plan` free of pydantic models and yaml
    if name == "Orchestrator":
        from slmkit.plan.runner import Orchestrator

        return Orchestrator
    if name == "Workflow":
        from slmkit.plan.workflow import Workflow

        return Workflow
    if name in ("tool", "ToolRegistry"):
        from slmkit.plan import tools

        return getattr(tools, name)
    raise AttributeError(name)
