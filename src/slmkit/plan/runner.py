"""``Orchestrator``: plan a request and run it, or run a workflow — the one object the CLI and gateway use.

    from slmkit.plan import Orchestrator
    orc = Orchestrator()
    run = orc.run("Plan five days in Rome with historical sites, good food and a day trip to Pompeii")
    print(run.answer); print(run.account())
    orc.run_workflow("triage", {"text": "I was charged twice for my subscription"})
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from slmkit.config import Settings, get_settings
from slmkit.config.plan import PlannerChoice, PlanSettings
from slmkit.plan.builtin import builtin_tools
from slmkit.plan.executor import Executor, RunResult, StepResult
from slmkit.plan.graph import Plan
from slmkit.plan.planner import Planner, Planning
from slmkit.plan.tools import ToolRegistry, user_tools
from slmkit.plan.workflow import Workflow, load_workflow

if TYPE_CHECKING:  # annotations only: the Orchestrator hands these to builtin_tools and the Planner
    from slmkit.api import SLM
    from slmkit.router.router import Router


class Orchestrator:
    def __init__(self, tools: ToolRegistry | None = None, *, slm: SLM | None = None, router: Router | None = None,
                 settings: Settings | None = None) -> None:
        """``tools`` are added to the shipped ones and to those registered with ``@slmkit.plan.tool``;
        ``settings`` is a whole ``slmkit.config.Settings`` (default: the process-wide one)."""
        self.config = settings or get_settings()
        self.settings: PlanSettings = self.config.plan
        if slm is None:  # one crew for the tools and the planner's shortlist: the encoder loads once
            from slmkit.api import SLM

            slm = SLM(self.config.embed_model)
        registry = builtin_tools(slm, router, data_dir=self.config.data_dir).merged(user_tools())
        self.registry = registry.merged(tools) if tools is not None else registry
        self.planner = Planner(self.registry, router, self.settings, slm=slm)

    def warm_up(self, planner: PlannerChoice | None = None) -> Orchestrator:
        self.planner.warm_up(planner)
        return self

    def executor(self, on_event: Callable[[StepResult], None] | None = None) -> Executor:
        return Executor(self.registry, max_workers=self.settings.max_workers,
                        step_timeout_s=self.settings.step_timeout_s, on_event=on_event)

    def plan(self, request: str, planner: PlannerChoice | None = None) -> tuple[Plan, Planning]:
        return self.planner.plan(request, planner)

    def execute(self, plan: Plan, planning: Planning | None = None, *,
                on_event: Callable[[StepResult], None] | None = None) -> RunResult:
        run = self.executor(on_event).run(plan, plan.request, compose=self.settings.compose)
        if planning is not None:
            run.planning = planning.to_dict()
            run.latency_ms += planning.latency_ms
        return run

    def run(self, request: str, planner: PlannerChoice | None = None, *,
            on_event: Callable[[StepResult], None] | None = None) -> RunResult:
        """Plan ``request`` and run the plan; the result holds the answer, every step's trace and an account."""
        plan, planning = self.plan(request, planner)
        return self.execute(plan, planning, on_event=on_event)

    def run_workflow(self, workflow: str | Workflow, inputs: Any, *,
                     on_event: Callable[[StepResult], None] | None = None) -> RunResult:
        wf = workflow if isinstance(workflow, Workflow) else load_workflow(workflow, self.config)
        wf.check(self.registry)
        bound = wf.bind(inputs)
        return self.executor(on_event).run(wf.plan, bound, output=wf.output)
