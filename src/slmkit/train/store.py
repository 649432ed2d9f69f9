"""Saved heads: one ``.npz`` file per version under ``<data_dir>/heads/<name>/``, indexed in SQLite.

A new version is written to a temporary file and renamed into place before its
row is committed, so an interrupted training never replaces a usable head.

The heads slmkit builds for itself from packaged data (sentiment, moderation: their recipes
sit beside their skills) are cache files instead, ``<cache>/builtin/<kind>-<encoder>.npz``:
nothing indexes them, a missing one is simply built again.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError, NotTrainedError
from slmkit.state import connect
from slmkit.train.heads import LinearHead

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class HeadRecord:
    name: str
    version: int
    task: str
    encoder: str
    labels: list[str]
    n_examples: int
    metrics: dict
    path: Path
    created: float


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InvalidInputError(
            f"head name {name!r} must be 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    return name


def write_npz(path: Path, head: LinearHead) -> None:
    """Write atomically: a crash leaves either the old file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("wb") as handle:
            np.savez(handle, **head.to_npz())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_npz(path: Path) -> LinearHead:
    with np.load(path, allow_pickle=False) as data:
        return LinearHead.from_npz(dict(data))


def builtin_path(kind: str, encoder: str) -> Path:
    """The cache file of a head slmkit builds for itself; ``kind`` carries any recipe version."""
    return get_settings().cache / "builtin" / f"{kind}-{encoder}.npz"


def built_heads(paths: Sequence[Path], train: Callable[[], Sequence[LinearHead]]) -> list[LinearHead]:
    """The heads in ``paths``, all trained first (``train`` returns them in the same order) if any is missing.

    They are trained together because they share one recipe run: a lone survivor may be from another run.
    """
    if not all(path.is_file() for path in paths):
        for path, head in zip(paths, train(), strict=True):
            write_npz(path, head)
    return [read_npz(path) for path in paths]


def save_head(name: str, head: LinearHead, *, task: str, encoder: str, metrics: dict | None = None) -> HeadRecord:
    check_name(name)
    root = get_settings().data_dir / "heads" / name
    with connect() as conn:
        (latest,) = conn.execute("SELECT COALESCE(MAX(version), 0) FROM heads WHERE name = ?", (name,)).fetchone()
        version = latest + 1
        path = root / f"v{version:04d}.npz"
        write_npz(path, head)
        record = HeadRecord(
            name, version, task, encoder, head.labels, sum(head.meta.get("examples", {}).values()),
            metrics or {}, path, time.time(),
        )
        conn.execute(
            "INSERT INTO heads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (name, version, task, encoder, json.dumps(head.labels), record.n_examples,
             json.dumps(record.metrics), str(path), record.created),
        )
    return record


def _record(row: tuple) -> HeadRecord:
    name, version, task, encoder, labels, n, metrics, path, created = row
    return HeadRecord(name, version, task, encoder, json.loads(labels), n, json.loads(metrics), Path(path), created)


def list_heads(name: str | None = None) -> list[HeadRecord]:
    with connect() as conn:
        query = "SELECT * FROM heads" + (" WHERE name = ?" if name else "") + " ORDER BY name, version"
        return [_record(row) for row in conn.execute(query, (name,) if name else ())]


def load_head(name: str, version: int | None = None) -> tuple[LinearHead, HeadRecord]:
    check_name(name)
    records = [r for r in list_heads(name) if version is None or r.version == version]
    if not records:
        what = f"version {version} of head {name!r}" if version else f"head {name!r}"
        raise NotTrainedError(f"{what} does not exist; train it with `slmkit train classify {name} FILE`")
    record = records[-1]
    return read_npz(record.path), record
