"""`slmkit distill status | discover | train | promote | demote`: distillation from the command line.

Every command works on the data dir of the settings (``SLMKIT_DATA_DIR``) and its ``distill:``
section. Commands import the distiller in their body: it pulls in the settings (pydantic), the
skills and the encoders, and `slmkit --help` should not pay for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape
from rich.table import Table

from slmkit.cli._io import console, out

if TYPE_CHECKING:
    from slmkit.distill.distiller import Distiller
    from slmkit.distill.registry import Event

distill_app = typer.Typer(help="Hand the teacher's well-defined tasks to small students once they agree.",
                          no_args_is_help=True)

TaskArgument = Annotated[str, typer.Argument(help="The task id (see `slmkit distill status`).")]


def _distiller() -> Distiller:
    from slmkit.distill.distiller import Distiller  # here, not at the top: keeps `slmkit --help` fast

    return Distiller()


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _labels(labels: list[str] | tuple[str, ...], shown: int = 6) -> str:
    more = f" +{len(labels) - shown}" if len(labels) > shown else ""
    return escape(", ".join(labels[:shown]) + more) if labels else "-"


def _print_event(event: Event) -> None:
    out.print(f"{event.task_id}: {event.action}" + (f" {event.student}" if event.student else "")
              + f" - {escape(event.reason)}")


@distill_app.command("status")
def status_cmd() -> None:
    """Every task found so far: its student, its shadow record, and how much of its traffic it serves."""
    distiller = _distiller()
    tasks = distiller.status()
    table = Table(title=f"distillation tasks in {distiller.root}")
    table.add_column("task", no_wrap=True)  # never truncated: it is what train/promote/demote take
    for col in ("template", "status", "requests", "labels", "student", "shadow n", "agreement", "Wilson LB",
                "served", "saved USD"):
        table.add_column(col, justify="right" if col in ("requests", "shadow n", "agreement", "Wilson LB",
                                                         "served", "saved USD") else "left")
    for t in tasks:
        status = t.status + (" (held)" if t.held else "") + (" [red]error[/red]" if t.error else "")
        student = ((t.student or "-") + (f", then {t.second}" if t.second else "")
                   + (f" (challenger {t.challenger})" if t.challenger else ""))
        table.add_row(t.task_id, escape(t.template), status, str(t.count), _labels(t.labels), student,
                      str(t.shadow_n), _ratio(t.shadow_agreement), _ratio(t.shadow_lower),
                      f"{t.served_share:.0%}", f"{t.saved_cost:.4f}")
    out.print(table)
    if not tasks:
        console.print(f"no tasks yet ({distiller.store.count()} captures): run `slmkit distill discover` once the "
                      "teacher has answered requests")
    for t in tasks:
        if t.reason or t.error:
            console.print(f"{t.task_id}: {escape(t.error or t.reason)}")


@distill_app.command("discover")
def discover_cmd() -> None:
    """Group the captured requests into task templates and classify each task by the teacher's answers."""
    distiller = _distiller()
    with console.status("discovering tasks in the capture store..."):
        found = distiller.discover()
    table = Table(title=f"{found.captured} captures: {found.templated} in task templates, {found.open} open")
    table.add_column("task", no_wrap=True)
    for col in ("template", "kind", "status", "requests", "labels", "coverage", "why"):
        table.add_column(col, justify="right" if col in ("requests", "coverage") else "left")
    for t in found.tasks:
        table.add_row(t.task_id, escape(t.template.describe()), t.kind, t.status, str(t.count), _labels(t.labels),
                      f"{t.coverage:.0%}", escape(t.why))
    out.print(table)
    if not found.tasks:
        console.print("no task template yet: requests sharing fixed text are grouped once there are "
                      f"{distiller.settings.min_template_requests} of them")


@distill_app.command("train")
def train_cmd(
    task: TaskArgument,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Score the candidates on every captured example "
                                          "and keep none: no new student, no shadow.")] = False,
) -> None:
    """Score every student candidate on the task's captured examples; the best one goes into shadow."""
    from slmkit.distill.students import choose

    distiller = _distiller()
    with console.status(f"scoring student candidates for task {task}..."):
        if dry_run:
            candidates = distiller.candidates(task)
            best = choose(candidates)
            n, labels = (candidates[0].n_examples if candidates else 0), ""
            closing = "dry run, nothing kept: " + (f"training would put {best.name} into shadow" if best else
                                                   "no candidate meets the agreement target yet")
        else:
            report = distiller.train(task)
            candidates, n, labels = report.candidates, report.n_examples, f", labels {_labels(report.labels)}"
            closing = escape(report.reason)
    table = Table(title=f"task {task}: candidates on {n} examples (out-of-fold){labels}")
    for col in ("candidate", "agreement", "threshold", "coverage", "agreement served", "Wilson LB", "p50 ms",
                "meets", "note"):
        table.add_column(col, justify="left" if col in ("candidate", "note") else "right")
    for c in candidates:
        table.add_row(escape(c.name), f"{c.agreement:.3f}", f"{c.threshold:.2f}", f"{c.coverage:.0%}",
                      f"{c.agreement_served:.3f}", f"{c.lower_served:.3f}", f"{c.p50_ms:.1f}",
                      "[green]yes[/green]" if c.meets else "no", escape(c.note))
    out.print(table)
    out.print(closing)


@distill_app.command("promote")
def promote_cmd(task: TaskArgument) -> None:
    """Serve the task from its current student now, whatever its shadow record says."""
    _print_event(_distiller().promote(task))


@distill_app.command("demote")
def demote_cmd(
    task: TaskArgument,
    reason: Annotated[str, typer.Option(help="Kept in the decision log.")] = "by hand",
) -> None:
    """Send the task back to the teacher; it stays there until trained again."""
    _print_event(_distiller().demote(task, reason))
