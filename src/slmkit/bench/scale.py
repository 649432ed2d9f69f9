"""`slmkit bench scale`: the same requests against `slmkit serve` (one process) and against the gateway on
Ray Serve with 1, then 2 replicas per deployment; closed-loop load at several concurrencies.

The baseline is the single process, measured in the same run: Serve's added latency is its p50 at
concurrency 1 minus the baseline's, per workload. On a 2-core machine replicas cannot add cores, so the
second Ray configuration shows what replication costs here; the per-replica figures (requests/s of one
replica at saturation) say what more cores would give.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

if TYPE_CHECKING:
    from slmkit.config import Settings

WORKLOADS: dict[str, tuple[str, dict]] = {
    "embeddings": ("/v1/embeddings", {"model": "text-embedding-3-small", "input": "How do I reset my password?"}),
    "skill": ("/v1/skills/pii", {"input": "Call Jane Doe on +44 20 7946 0958 about invoice 4411."}),
    "chat": ("/v1/chat/completions", {"model": "small", "max_tokens": 8,
                                      "messages": [{"role": "user", "content": "Say hello in one word."}]}),
}
TARGETS = ("single", "ray-1", "ray-2")
SCALED = ("ingress", "encoders", "tokens")  # what ray-2 replicates (a second generator would not fit 2 cores)


@dataclass
class Cell:
    """One (target, workload, concurrency) measurement."""

    target: str
    workload: str
    concurrency: int
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies_ms: list[float] = field(default_factory=list, repr=False)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def pct(self, q: float) -> float:
        ordered = sorted(self.latencies_ms)
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")

    def to_dict(self) -> dict:
        return {"target": self.target, "workload": self.workload, "concurrency": self.concurrency,
                "requests": self.requests, "errors": self.errors, "rps": round(self.rps, 2),
                "p50_ms": round(self.pct(0.5), 2), "p95_ms": round(self.pct(0.95), 2)}


def closed_loop(url: str, body: dict, concurrency: int, seconds: float, cell: Cell) -> Cell:
    """``concurrency`` clients, each sending its next request when the last one is answered."""
    import httpx

    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client() -> None:
        with httpx.Client(timeout=120) as http:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                try:
                    ok = http.post(url, json=body).status_code == 200
                except httpx.HTTPError:
                    ok = False
                ms = 1000 * (time.perf_counter() - t0)
                with lock:
                    if ok:
                        cell.requests += 1
                        cell.latencies_ms.append(ms)
                    else:
                        cell.errors += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cell.seconds = time.perf_counter() - started
    return cell


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_ready(base: str, seconds: float = 300) -> None:
    import httpx

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{base} was not ready within {seconds:.0f} s")


def _measure(target: str, base: str, workloads: list[str], levels: list[int], seconds: float,
             progress: Callable[..., Any]) -> list[Cell]:
    import httpx

    cells = []
    for workload in workloads:
        path, body = WORKLOADS[workload]
        httpx.post(base + path, json=body, timeout=300)  # first call loads what it needs: not measured
        for level in levels:
            cells.append(closed_loop(base + path, body, level, seconds, Cell(target, workload, level)))
            progress()
    return cells


def _single(settings: Settings, workloads: list[str], levels: list[int], seconds: float,
            progress: Callable[..., Any]) -> list[Cell]:
    """`slmkit serve` in its own process, with the same settings."""
    port = _free_port()
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(settings.model_dump(mode="json"), f)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLMKIT_")} | {"SLMKIT_CONFIG": f.name}
    proc = subprocess.Popen([sys.executable, "-m", "slmkit.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(base)
        return _measure("single", base, workloads, levels, seconds, progress)
    finally:
        proc.terminate()
        proc.wait(30)
        Path(f.name).unlink(missing_ok=True)


def _with_replicas(settings: Settings, replicas: int) -> Settings:
    from slmkit.config.deploy import ReplicaSettings

    scaled = {name: ReplicaSettings(num_replicas=replicas, num_cpus=0.1) for name in SCALED}
    ray = settings.ray.model_copy(update={"deployments": {**settings.ray.deployments, **scaled}})
    return settings.model_copy(update={"ray": ray})


def bench_scale(settings: Settings, targets: list[str], workloads: list[str], levels: list[int], seconds: float,
                progress: Callable[..., Any] = lambda *a, **k: None) -> dict:
    """Every target x workload x concurrency; the JSON report."""
    from slmkit.deploy import cluster

    settings = settings.model_copy(update={
        "gateway": settings.gateway.model_copy(update={"log_content": "none", "auth": "off"}),  # loopback only
        "ray": settings.ray.model_copy(update={"port": _free_port()})})
    cells: list[Cell] = []
    timings: dict[str, float] = {}
    if "single" in targets:
        cells += _single(settings, workloads, levels, seconds, progress)
    ray_targets = [t for t in targets if t.startswith("ray-")]
    try:
        for target in ray_targets:
            t0 = time.perf_counter()
            deployed = cluster.deploy(_with_replicas(settings, int(target.split("-")[1])))
            timings[f"{target}_deploy_s"] = round(time.perf_counter() - t0, 1)
            cells += _measure(target, deployed.url, workloads, levels, seconds, progress)
    finally:
        if ray_targets:
            cluster.shutdown()
    return report(cells, timings, seconds)


def report(cells: list[Cell], timings: dict[str, float], seconds: float) -> dict:
    rows = [c.to_dict() for c in cells]
    by = {(c.target, c.workload, c.concurrency): c for c in cells}
    added, ratios = {}, {}
    for (target, workload, level), cell in by.items():
        base = by.get(("single", workload, level))
        if target == "single" or base is None:
            continue
        ratios[f"{target}/{workload}/c{level}"] = {"rps_vs_single": round(cell.rps / base.rps, 3) if base.rps else None,
                                                   "p50_vs_single": round(cell.pct(0.5) / base.pct(0.5), 3)}
        if level == min(c.concurrency for c in cells):
            added[f"{target}/{workload}"] = round(cell.pct(0.5) - base.pct(0.5), 2)
    return {"baseline": "single (`slmkit serve`, one process)", "seconds_per_cell": seconds, "cores": os.cpu_count(),
            "cells": rows, "serve_added_p50_ms": added, "ratios": ratios, **timings}


def plot_scale(result: dict, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    workloads = sorted({r["workload"] for r in result["cells"]})
    fig, axes = plt.subplots(1, len(workloads), figsize=(5 * len(workloads), 4), squeeze=False)
    for ax, workload in zip(axes[0], workloads, strict=True):
        for target in dict.fromkeys(r["target"] for r in result["cells"]):
            rows = [r for r in result["cells"] if r["workload"] == workload and r["target"] == target]
            ax.plot([r["concurrency"] for r in rows], [r["rps"] for r in rows], marker="o", label=target)
        ax.set(title=workload, xlabel="concurrency", ylabel="requests/s", xscale="log")
        ax.legend()
    fig.suptitle(f"slmkit serve vs Ray Serve ({result['cores']} cores, closed loop)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
