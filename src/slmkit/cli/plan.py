"""`slmkit plan` and `slmkit workflow list | show | run`: the planner from the command line.

Commands import the planner in their body: the orchestrator pulls in the router, the tools and the settings
(pydantic), and `slmkit --help` should not pay for them.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.live import Live
from rich.markup import escape
from rich.table import Table
from rich.tree import Tree

from slmkit.cli._io import console, out
from slmkit.errors import InvalidInputError

if TYPE_CHECKING:
    from slmkit.plan.executor import RunResult, StepResult
    from slmkit.plan.graph import Plan, Step
    from slmkit.plan.workflow import Workflow

    OnEvent = Callable[[StepResult], None]

workflow_app = typer.Typer(help="Fixed step graphs in YAML: list, show and run them.", no_args_is_help=True)

_ICONS = {"pending": "[dim]·[/dim]", "running": "[cyan]…[/cyan]", "ok": "[green]✓[/green]",
          "failed": "[red]✗[/red]", "skipped": "[yellow]↷[/yellow]"}


def _tree(plan: Plan, results: dict[str, StepResult] | None = None) -> Tree:
    """The plan as a rich tree: each step under the steps it needs (roots at the top), with its status."""
    results = results or {}
    root = Tree(f"[bold]plan[/bold] [dim]({escape(plan.source)})[/dim]")

    def label(step: Step) -> str:
        r = results.get(step.id)
        status = _ICONS[r.status] if r is not None else _ICONS["pending"]
        args = json.dumps(step.args, ensure_ascii=False)
        extra = ""
        if r is not None and r.status in ("ok", "failed") and r.latency_ms:
            extra = f" [dim]{r.latency_ms:.0f} ms{', ' + escape(r.tier) if r.tier else ''}[/dim]"
        return (f"{status} [bold]{escape(step.id)}[/bold] {escape(step.tool)} "
                f"[dim]{escape(args[:90] + ('…' if len(args) > 90 else ''))}[/dim]{extra}")

    children: dict[str, list[Step]] = {s.id: [] for s in plan.steps}
    for s in plan.steps:
        if s.depends_on:
            children[s.depends_on[-1]].append(s)  # drawn under its last dependency; the others are listed

    def add(node: Tree, step: Step) -> None:
        text = label(step)
        if len(step.depends_on) > 1:
            text += f" [dim]needs {', '.join(step.depends_on)}[/dim]"
        branch = node.add(text)
        for child in children[step.id]:
            add(branch, child)

    for s in plan.steps:
        if not s.depends_on:
            add(root, s)
    if "answer" in results:
        r = results["answer"]
        root.add(f"{_ICONS[r.status]} [bold]answer[/bold] compose" +
                 (f" [dim]{r.latency_ms:.0f} ms, {escape(r.tier or '')}[/dim]" if r.status == "ok" else ""))
    return root


def _run_live(plan: Plan, start: Callable[[OnEvent], RunResult]) -> RunResult:
    """Run ``start(on_event)`` while redrawing the plan tree as steps start and finish."""
    results: dict[str, StepResult] = {}
    with Live(_tree(plan, results), console=console, refresh_per_second=8, transient=False) as live:
        def on_event(r: StepResult) -> None:
            results[r.id] = r
            live.update(_tree(plan, results))

        run = start(on_event)
        live.update(_tree(plan, {r.id: r for r in run.steps}))
    return run


def _trace(run: RunResult) -> None:
    table = Table(title="trace")
    for col in ("step", "tool", "status", "tier", "attempts", "latency ms", "cost USD"):
        table.add_column(col, justify="right" if col in ("attempts", "latency ms", "cost USD") else "left")
    for s in run.steps:
        table.add_row(s.id, s.tool, s.status, s.tier or "", str(s.attempts), f"{s.latency_ms:.0f}",
                      f"{s.cost_usd:.6f}")
    console.print(table)
    p = run.planning
    planned = (f"planned by {p['planner']} in {p['latency_ms']:.0f} ms ({len(p['attempts'])} attempt(s)); "
               if p else "")
    console.print(f"{planned}run {run.status} in {run.latency_ms:.0f} ms, cost ${run.cost_usd:.6f}")
    for line in run.account():
        console.print(f"[yellow]{escape(line)}[/yellow]")


def plan_cmd(
    request: Annotated[str, typer.Argument(help="What you want done, in plain words.")],
    planner: Annotated[str | None, typer.Option("--planner", help="small | large | auto (default: plan.planner).")] = None,
    tool_choice: Annotated[str | None, typer.Option("--tool-choice", help="all | shortlist | auto | embedding "
                                                    "(default: plan.tool_choice).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the plan; do not run it.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the plan, trace and answer as JSON.")] = False,
) -> None:
    """Plan a request as a graph of steps (tree), run it with live progress, and print the answer and trace."""
    from slmkit.plan.runner import Orchestrator

    from slmkit.config.plan import TOOL_CHOICES

    if planner not in (None, "small", "large", "auto"):
        raise InvalidInputError("--planner is small, large or auto")
    if tool_choice is not None and tool_choice not in TOOL_CHOICES:
        raise InvalidInputError(f"--tool-choice is one of {', '.join(TOOL_CHOICES)}")
    orc = Orchestrator()
    if tool_choice is not None:
        orc.planner.settings = orc.planner.settings.model_copy(update={"tool_choice": tool_choice})
    with console.status("planning..."):
        plan, planning = orc.plan(request, planner)  # type: ignore[arg-type]
    console.print(f"[dim]planner: {escape(planning.planner)} ({escape(planning.reason)}), "
                  f"{planning.latency_ms:.0f} ms[/dim]")
    for ask, shortlist, chooser in zip(planning.asks, planning.shortlists, planning.chosen_by, strict=False):
        offered = ", ".join(f"{c['tool']} {c['score']:.2f}" for c in shortlist["candidates"])
        console.print(f"[dim]ask: {escape(ask)} -> {escape(offered)} "
                      f"({'fixed by the shortlist' if chooser == 'shortlist' else 'the generator chose'})[/dim]")
    for line in plan.repairs:
        console.print(f"[dim]repaired: {escape(line)}[/dim]")
    if dry_run:
        if as_json:
            out.print_json(json.dumps({"plan": plan.to_dict(), "planning": planning.to_dict()}))
        else:
            console.print(_tree(plan))
        return
    run = _run_live(plan, lambda on_event: orc.execute(plan, planning, on_event=on_event))
    if as_json:
        out.print_json(json.dumps(run.to_dict(), ensure_ascii=False, default=str))
        return
    _trace(run)
    if run.answer is not None:
        out.print(run.answer, markup=False, highlight=False)


@workflow_app.command("list")
def workflow_list_cmd() -> None:
    """Workflows found in plan.workflows_dir and shipped with slmkit."""
    from slmkit.plan.workflow import Workflow, list_workflows

    for name, path in list_workflows().items():
        try:
            description = Workflow.from_yaml(path).description
        except InvalidInputError as exc:
            description = f"[red]invalid: {escape(str(exc))}[/red]"
        out.print(f"[bold]{escape(name)}[/bold]  {description}  [dim]{escape(str(path))}[/dim]")


@workflow_app.command("show")
def workflow_show_cmd(workflow: Annotated[str, typer.Argument(help="A workflow name or a .yaml file.")]) -> None:
    """Check a workflow against the tool registry and show its step graph."""
    from slmkit.plan.runner import Orchestrator
    from slmkit.plan.workflow import load_workflow

    wf = load_workflow(workflow)
    wf.check(Orchestrator().registry)
    console.print(f"[bold]{escape(wf.name)}[/bold]: {escape(wf.description)}")
    console.print(f"inputs: {escape(json.dumps(wf.inputs))}; output: {escape(str(wf.output))}")
    console.print(_tree(wf.plan))


@workflow_app.command("run")
def workflow_run_cmd(
    workflow: Annotated[str, typer.Argument(help="A workflow name or a .yaml file.")],
    inputs: Annotated[list[str] | None, typer.Option("--input", "-i", help="name=value (repeatable); "
                                                     "name=@file reads the value from a file.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole run as JSON.")] = False,
) -> None:
    """Run a workflow on real specialists with live progress; prints its output and trace."""
    from slmkit.plan.runner import Orchestrator
    from slmkit.plan.workflow import load_workflow

    wf = load_workflow(workflow)
    orc = Orchestrator()
    wf.check(orc.registry)
    bound = wf.bind(_inputs(inputs, wf))
    run = _run_live(wf.plan, lambda on_event: orc.run_workflow(wf, bound, on_event=on_event))
    if as_json:
        out.print_json(json.dumps(run.to_dict(), ensure_ascii=False, default=str))
    else:
        _trace(run)
        out.print_json(json.dumps(run.output, ensure_ascii=False, default=str))
    if run.status == "failed":
        raise typer.Exit(1)


def _inputs(pairs: list[str] | None, wf: Workflow) -> dict[str, Any]:
    """``--input name=value`` pairs -> the workflow's inputs; ``@file`` reads a file, non-string types are JSON."""
    values: dict[str, Any] = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"--input takes name=value, got {item!r}")
        if value.startswith("@"):
            try:
                value = Path(value[1:]).expanduser().read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise InvalidInputError(f"--input {key}: cannot read {value[1:]}: {exc}") from None
        kind = wf.inputs.get(key.strip(), {}).get("type", "string")
        if kind != "string":
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise InvalidInputError(f"--input {key} is a {kind}: give it as JSON") from None
        values[key.strip()] = value
    return values
