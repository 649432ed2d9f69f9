"""Where reports go and how they are saved, shared by the evaluations and the benchmarks.

Both ``slmkit eval`` and ``slmkit bench`` write a JSON report per run under the data
dir and drive a progress bar the CLI passes in; this module sits at the bottom
layer so neither of those packages has to import the other for it.
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from slmkit.config import get_settings

# A progress bar: called with a description and a total, it gives a context whose value advances the bar.
Bar = Callable[[str, int | None], AbstractContextManager[Callable[..., Any]]]


@contextmanager
def no_bar(description: str, total: int | None) -> Iterator[Callable[..., Any]]:
    yield lambda n=1: None


def default_out(kind: str, name: str) -> Path:
    return get_settings().data_dir / "reports" / f"{kind}-{name}.json"


def command_line() -> str:
    """The command that is writing the report, as one would type it again (``slmkit ...`` for the CLI)."""
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    if program in ("slmkit", "__main__.py"):
        program = "slmkit"
    return shlex.join([program, *sys.argv[1:]])


def write_json(path: Path, payload: dict) -> Path:
    """Write ``payload`` with when, where and by which command it was made (a figure is reproducible only
    with the command that measured it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.machine(),
               "python": platform.python_version(), "command": command_line(), **payload}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path
