"""What every command shares: the two consoles, input from arguments or stdin, JSON lines, progress, errors.

Results go to stdout (``out``) and everything else to stderr (``console``), so a pipe carries only results.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from slmkit.errors import InvalidInputError, SlmkitError
from slmkit.serialize import to_json

console = Console(stderr=True)
out = Console()


class Advance(Protocol):
    """Moves a progress bar on by ``n`` steps."""

    def __call__(self, n: int = 1) -> None: ...


@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Advance]:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        yield advance


def read_items(args: list[str] | None) -> list[str]:
    """Texts from arguments, else one per line from stdin (decoded strictly as UTF-8)."""
    if args:
        return args
    if sys.stdin.isatty():
        raise InvalidInputError("give text as arguments or pipe it in, one item per line")
    items = []
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise InvalidInputError(f"stdin line {number} is not valid UTF-8") from None
        if line.strip():
            items.append(line)
    if not items:
        raise InvalidInputError("stdin held no text")
    return items


def write_json_line(value: Any) -> None:
    """One JSON value on one stdout line, non-ASCII kept as is."""
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")


def emit_lines(items: Sequence[str], results: Sequence[Any]) -> None:
    """One JSON line per input: its text, then the fields of its result."""
    for text, result in zip(items, results, strict=True):
        write_json_line({"text": text, **to_json(result)})


def print_error(exc: SlmkitError) -> None:
    """A deliberate error as one line on stderr: the message says what to do, a traceback would not."""
    console.print(f"[red]error:[/red] {exc}")


def print_interrupted() -> None:
    console.print("[yellow]interrupted[/yellow]")
