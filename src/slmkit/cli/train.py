"""`slmkit train classify | list`: heads trained on your own labelled examples.

Commands import the trainers in their body: scikit-learn and the settings (pydantic) take a third of a
second or more to import, and `slmkit --help` should not pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from slmkit.cli._io import console, out

train_app = typer.Typer(help="Train heads on your own labelled examples.", no_args_is_help=True)


@train_app.command("classify")
def train_classify(name: str, examples: Annotated[Path, typer.Argument(help="JSON lines {text, label} or CSV text,label.")],
                   c: Annotated[float, typer.Option(help="Inverse regularisation strength.")] = 10.0) -> None:
    """Train a few-shot head and save it as the next version of NAME."""
    from slmkit.api import SLM
    from slmkit.train.examples import read_examples

    texts, labels = read_examples(examples)
    skill = SLM().train_classifier(name, texts, labels, c=c)
    console.print(f"[green]saved[/green] head {name!r} version {skill.version}: "
                  f"{len(texts)} examples, labels {', '.join(skill.labels)}")


@train_app.command("list")
def train_list() -> None:
    """List saved heads and their versions."""
    from slmkit.train.store import list_heads

    table = Table(title="heads")
    for column in ("name", "version", "task", "encoder", "examples", "labels"):
        table.add_column(column)
    for r in list_heads():
        table.add_row(r.name, str(r.version), r.task, r.encoder, str(r.n_examples), ", ".join(r.labels))
    out.print(table)
