"""What the Models, Routes and tasks, Evaluations and Keys pages show, read through the library's
public functions (catalog and model store, head store, semantic router, distiller, reports folder)."""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slmkit.distill.distiller import Distiller, TaskStatus
    from slmkit.gateway.context import Gateway
    from slmkit.models.catalog import ModelSpec
    from slmkit.models.store import ModelStatus

REPORTS_PER_PAGE = 20
_MAX_REPORT_BYTES = 4_000_000  # larger JSON files are listed, not parsed on a page load
REPORT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,200}$")


# -- models -----------------------------------------------------------------------------------------
_SMAPS_LINE = re.compile(r"^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+ *(.*)$|^Rss: +(\d+) kB", re.M)


def _mapped_rss() -> dict[str, int]:
    """Resident bytes per file mapped into this process (llama.cpp maps GGUF weights): /proc/self/smaps,
    read with one regular expression (it has thousands of lines)."""
    try:
        with open("/proc/self/smaps", encoding="utf-8", errors="replace") as fh:
            text = fh.read()
    except OSError:
        return {}
    out: dict[str, int] = {}
    path: str | None = None
    for m in _SMAPS_LINE.finditer(text):
        if m.group(2) is None:
            path = m.group(1) if m.group(1).startswith("/") else None
        elif path:
            out[path] = out.get(path, 0) + int(m.group(2)) * 1024
    return out


def process_rss() -> int | None:
    try:
        with open("/proc/self/status", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


@dataclass(frozen=True)
class ModelRow:
    name: str
    task: str
    params: int
    format: str
    runtime: str
    size: int | None
    present: bool
    detail: str
    checksum: str
    loaded: str
    rss: int | None


_STATUS_CACHE: dict[str, ModelStatus] = {}
_STATUS_TTL_S = 30.0  # presence on disk changes by install/assembly only; locating package files is not free
_status_at = [0.0]
_status_lock = threading.Lock()


def refresh_statuses() -> None:
    """Look at every catalog model's files again (the dashboard's start-up thread, then every 30 s in the
    background: a page shows the last look, at most 30 s old, and never waits for this)."""
    from slmkit.models.catalog import CATALOG
    from slmkit.models.store import status

    if not _status_lock.acquire(blocking=False):
        return  # a refresh is running already
    try:
        for spec in CATALOG.values():
            _STATUS_CACHE[spec.name] = status(spec)
        _status_at[0] = time.monotonic()
    finally:
        _status_lock.release()


def _status(spec: ModelSpec) -> ModelStatus:
    if spec.name not in _STATUS_CACHE:
        refresh_statuses()
    elif time.monotonic() - _status_at[0] > _STATUS_TTL_S:
        _status_at[0] = time.monotonic()
        threading.Thread(target=refresh_statuses, name="slmkit-ui-models", daemon=True).start()
    return _STATUS_CACHE.get(spec.name) or _status_now(spec)


def _status_now(spec: ModelSpec) -> ModelStatus:
    from slmkit.models.store import status

    return status(spec)


_RSS: list = [0.0, None]  # [when read, {file: resident bytes}]
_RSS_TTL_S = 10.0  # reading smaps costs 20-40 ms on a process with the crew loaded: a page shows a look <= 10 s old


def _refresh_rss() -> None:
    _RSS[1], _RSS[0] = _mapped_rss(), time.monotonic()


def mapped_rss() -> dict[str, int]:
    if _RSS[1] is None:
        _refresh_rss()
    elif time.monotonic() - _RSS[0] > _RSS_TTL_S:
        _RSS[0] = time.monotonic()  # one refresh at a time
        threading.Thread(target=_refresh_rss, name="slmkit-ui-rss", daemon=True).start()
    return _RSS[1]


def models() -> list[ModelRow]:
    from slmkit.models.catalog import CATALOG

    mapped = mapped_rss()
    rows = []
    for spec in CATALOG.values():
        st = _status(spec)
        recorded = spec.assembled_sha256 or next((f.sha256 for f in spec.files.values() if f.sha256), None)
        checksum = (f"sha256 {recorded[:12]}… recorded; `slmkit models verify {spec.name}` re-hashes"
                    if recorded else "no recorded checksum (package files)")
        rss = None
        if st.path is not None:
            prefix = str(st.path)
            rss = sum(v for k, v in mapped.items() if k == prefix or k.startswith(prefix.rstrip("/") + "/")) or None
        loaded = f"mapped in this process ({rss / 2**20:.0f} MB resident)" if rss else "not mapped"
        rows.append(ModelRow(spec.name, spec.task, spec.params, spec.format, spec.runtime, spec.size_bytes,
                             st.present, st.detail, checksum, loaded, rss))
    return rows


def heads() -> list[dict]:
    from slmkit.train.store import list_heads

    return [{"name": h.name, "version": h.version, "task": h.task, "encoder": h.encoder, "labels": h.labels,
             "n_examples": h.n_examples, "metrics": flat(h.metrics, 12), "created": h.created}
            for h in list_heads()]


# -- routes and distilled tasks -------------------------------------------------------------------
def semantic_routes(gateway: Gateway) -> list[dict]:
    semantic = gateway.router.semantic
    if semantic is None:
        return []
    return [{"name": r.name, "target": r.target, "threshold": r.threshold, "utterances": len(r.utterances)}
            for r in semantic.routes]


class Tasks:
    """The distillation tasks, through the router's own distiller when it has one (so promote/demote act
    on what serves), else a distiller opened on the data dir."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self._own: Distiller | None = None

    def distiller(self) -> Distiller:
        serving = self.gateway.router.distiller
        if serving is not None:
            return serving
        if self._own is None:
            from slmkit.distill.distiller import Distiller

            self._own = Distiller(slm=self.gateway.skills, data_dir=self.gateway.settings.data_dir)
        return self._own

    def status(self) -> list[TaskStatus]:
        return self.distiller().status()

    def serving(self) -> bool:
        return self.gateway.router.distiller is not None


# -- reports ----------------------------------------------------------------------------------------
def flat(payload: Any, limit: int = 40, prefix: str = "") -> list[tuple[str, str]]:
    """Scalars of a JSON object as (dotted key, text) rows, depth-first, at most ``limit``."""
    rows: list[tuple[str, str]] = []

    def walk(value: Any, key: str) -> None:
        if len(rows) >= limit:
            return
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, f"{key}.{k}" if key else str(k))
        elif isinstance(value, list):
            if value and all(not isinstance(v, dict | list) for v in value) and len(value) <= 12:
                rows.append((key, ", ".join(_fmt(v) for v in value)))
            else:
                rows.append((key, f"[{len(value)} items]"))
        else:
            rows.append((key, _fmt(value)))

    walk(payload, prefix)
    return rows


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _command(name: str, payload: dict, path: Path) -> str:
    """The command that wrote the report: recorded in it, or read off the name ``kind-name.json``
    (``default_out`` in slmkit.reports), marked as inferred."""
    if isinstance(payload.get("command"), str):
        return payload["command"]
    stem = path.stem
    if stem.startswith("bench-"):
        return f"slmkit bench {stem.removeprefix('bench-')} --out {path}   (inferred from the file name)"
    if stem.startswith("eval-"):
        task, _, rest = stem.removeprefix("eval-").partition("-")
        dataset = f" --dataset {rest}" if rest and task in ("classify", "sentiment", "entities", "rag") else ""
        return f"slmkit eval {task}{dataset} --out {path}   (inferred from the file name)"
    return f"(not recorded) {name}"


def reports(reports_dir: Path, page: int) -> tuple[list[dict], int]:
    """One page of the reports folder, newest first, and how many reports there are."""
    try:
        entries = [(e.stat().st_mtime, Path(e.path)) for e in os.scandir(reports_dir)
                   if e.name.endswith(".json") and e.is_file()]
    except OSError:
        return [], 0
    entries.sort(reverse=True)
    out = []
    for mtime, path in entries[page * REPORTS_PER_PAGE:(page + 1) * REPORTS_PER_PAGE]:
        payload: dict = {}
        note = None
        if path.stat().st_size > _MAX_REPORT_BYTES:
            note = f"{path.stat().st_size / 2**20:.1f} MB: too large to show here"
        else:
            try:
                loaded = json.loads(path.read_text(encoding="utf-8"))
                payload = loaded if isinstance(loaded, dict) else {"value": loaded}
            except (OSError, ValueError) as exc:
                note = f"unreadable: {type(exc).__name__}"
        png = path.with_suffix(".png")
        out.append({"name": path.name, "path": str(path), "modified": mtime,
                    "created": payload.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(mtime)),
                    "rows": flat({k: v for k, v in payload.items() if k not in ("created", "png")}),
                    "plot": png.name if png.is_file() else None, "command": _command(path.name, payload, path),
                    "note": note})
    return out, len(entries)


def report_plot(reports_dir: Path, name: str) -> Path | None:
    """The PNG called ``name`` directly inside the reports folder, or None (no paths, no other files)."""
    if not REPORT_NAME.match(name) or not name.endswith(".png"):
        return None
    path = reports_dir / name
    return path if path.is_file() and path.parent.resolve() == reports_dir.resolve() else None
