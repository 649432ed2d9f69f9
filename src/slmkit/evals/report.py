"""Printing reports as rich tables and saving them as JSON (and PNG where a picture helps)."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.table import Table

from slmkit.config import get_settings
from slmkit.evals.metrics import ClassificationReport


def default_out(kind: str, name: str) -> Path:
    return get_settings().data_dir / "reports" / f"{kind}-{name}.json"


def write_json(path: Path, payload: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"created": time.strftime("%Y-%m-%dT%H:%M:%S"), "machine": platform.machine(),
               "python": platform.python_version(), **payload}
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def print_classification(title: str, reports: Sequence[ClassificationReport], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=title)
    for column in ("run", "n", "accuracy", "macro-F1", "ECE", "top confusion"):
        table.add_column(column, justify="right" if column in {"n", "accuracy", "macro-F1", "ECE"} else "left")
    for r in reports:
        confusion = f"{r.top_confusions[0][0]} -> {r.top_confusions[0][1]} ({r.top_confusions[0][2]})" \
            if r.top_confusions else "-"
        table.add_row(r.name, str(r.n), f"{r.accuracy:.4f}", f"{r.macro_f1:.4f}",
                      f"{r.ece:.3f}" if r.ece is not None else "-", confusion)
    console.print(table)
