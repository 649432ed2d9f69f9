"""`slmkit bench generate`: a local generator under concurrent chats, in-process vs llama-server.

Closed-loop load: at each concurrency, that many workers each send short chats (fixed prompts,
greedy, ``max_tokens`` 64) one after another, the next as soon as the last ended, until the level's
requests are done. Both runtimes are driven through the tier objects the router uses (``LocalTier``
streams from the model in this process, behind its lock; ``ServerTier`` streams from a supervised
llama-server child with continuous batching over its slots), so the comparison is runtime against
runtime, not client against client. Per level: aggregate output tokens/s, p50/p95 time to first
token and total latency, errors; plus whether both runtimes gave the same greedy text per prompt.

Mixed load (``mixed``): a real `slmkit serve` in a child process (server runtime, its default); a
sequential client times specialist calls (embeddings, pii) alone, then while chat workers keep the
small tier busy: their p95 with and without concurrent chats. Once per niceness of the llama-server
child (``router.server_nice``), so the effect of yielding the CPU to the specialists is in the same run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slmkit.router.tiers import LocalTier, ServerTier

# Short chats of different shapes; fixed, so both runtimes answer the same questions.
PROMPTS = (
    "Explain in two sentences what a hash map is.",
    "Write a Python function that reverses a string.",
    "What is the difference between a list and a tuple in Python?",
    "Give three tips for writing readable code.",
    "What does HTTP status 404 mean?",
    "Summarise what a unit test is for.",
    "Write a SQL query that counts rows in a table named users.",
    "Why are small language models useful on a laptop?",
)
MAX_TOKENS = 64


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@dataclass
class Level:
    runtime: str  # "inprocess" or "server t2 s4"
    concurrency: int
    requests: int = 0
    errors: int = 0
    output_tokens: int = 0
    seconds: float = 0.0
    ttft_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)
    answers: dict[int, str] = field(default_factory=dict)  # prompt index -> text (the last seen)

    @property
    def tokens_per_s(self) -> float:
        return self.output_tokens / self.seconds if self.seconds else 0.0

    def summary(self) -> dict[str, Any]:
        return {"runtime": self.runtime, "concurrency": self.concurrency, "requests": self.requests,
                "errors": self.errors, "output_tokens": self.output_tokens, "seconds": round(self.seconds, 2),
                "tokens_per_s": round(self.tokens_per_s, 2),
                "ttft_p50_ms": round(_pct(self.ttft_ms, 0.5), 1), "ttft_p95_ms": round(_pct(self.ttft_ms, 0.95), 1),
                "total_p50_ms": round(_pct(self.total_ms, 0.5), 1), "total_p95_ms": round(_pct(self.total_ms, 0.95), 1)}


def _one(tier: LocalTier | ServerTier, prompt: int, level: Level, lock: threading.Lock) -> None:
    messages = [{"role": "user", "content": PROMPTS[prompt]}]
    started = time.perf_counter()
    first, text, tokens = None, [], 0
    try:
        for delta in tier.stream(messages, max_tokens=MAX_TOKENS):
            if first is None and (delta.text or delta.finish_reason):
                first = time.perf_counter()
            text.append(delta.text)
            if delta.finish_reason is not None:
                tokens = delta.completion_tokens
                if delta.finish_reason == "error":
                    raise RuntimeError("stream cut")
    except Exception:  # counted, not fatal: the bench reports errors per level
        with lock:
            level.errors += 1
        return
    ended = time.perf_counter()
    with lock:
        level.requests += 1
        level.output_tokens += tokens
        level.ttft_ms.append(1000 * ((first or ended) - started))
        level.total_ms.append(1000 * (ended - started))
        level.answers[prompt] = "".join(text)


def run_level(tier: LocalTier | ServerTier, runtime: str, concurrency: int, requests: int) -> Level:
    """``requests`` chats by ``concurrency`` closed-loop workers; prompts handed out in a fixed order."""
    level, lock = Level(runtime, concurrency), threading.Lock()
    queue = list(range(requests))
    take = threading.Lock()

    def worker() -> None:
        while True:
            with take:
                if not queue:
                    return
                i = queue.pop(0)
            _one(tier, i % len(PROMPTS), level, lock)

    workers = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    level.seconds = time.perf_counter() - started
    return level


def bench_generators(model: str, concurrencies: list[int], requests: int, threads: list[int], slots: list[int],
                     polls: list[int] | None = None,
                     progress: Callable[..., Any] = lambda n=1: None) -> dict[str, Any]:
    """Every concurrency on the in-process runtime, then on each (threads, slots, poll) server variant."""
    from slmkit.config.router import RouterSettings, TierConfig
    from slmkit.router.tiers import LocalTier, ServerTier

    levels: list[Level] = []
    tiers = {"small": TierConfig(model=model), "large": TierConfig(model=model)}
    variants: list[tuple[str, LocalTier | ServerTier]] = []
    for t in threads:
        variants.append((f"inprocess t{t}", LocalTier("small", tiers["small"], t)))
        for s in slots:
            for poll in polls or [RouterSettings().server_poll]:
                # The child at the in-process runtime's priority: the runtimes are compared, not the niceness
                # the gateway gives its children (the mixed load below runs with the gateway's default).
                settings = RouterSettings(tiers=tiers, runtime="server", slots=s, server_nice=0, server_poll=poll)
                name = f"server t{t} s{s}" + (f" poll{poll}" if polls and len(polls) > 1 else "")
                variants.append((name, ServerTier("small", tiers["small"], settings, t)))
    for name, tier in variants:
        tier.warm_up()
        run_level(tier, name, 1, 1)  # first-request effects (page faults, grammar caches) out of the figures
        for c in concurrencies:
            levels.append(run_level(tier, name, c, max(requests, c)))
            progress()
        if isinstance(tier, ServerTier):
            tier.server.stop()  # the next variant gets both cores
        else:
            tier._ready().close()
    return _report(model, concurrencies, requests, levels)


def _report(model: str, concurrencies: list[int], requests: int, levels: list[Level]) -> dict[str, Any]:
    by = {(lv.runtime, lv.concurrency): lv for lv in levels}
    runtimes = list(dict.fromkeys(lv.runtime for lv in levels))
    baseline = next((r for r in runtimes if r.startswith("inprocess")), runtimes[0])
    ratios, same = {}, {}
    for r in runtimes:
        if r == baseline:
            continue
        ratios[r] = {c: round(by[r, c].tokens_per_s / by[baseline, c].tokens_per_s, 2)
                     for c in concurrencies if by[baseline, c].tokens_per_s}
        same[r] = {c: _same(by[baseline, c].answers, by[r, c].answers) for c in concurrencies}
    return {"model": model, "max_tokens": MAX_TOKENS, "prompts": list(PROMPTS), "requests_per_level": requests,
            "cpu_count": os.cpu_count(), "baseline": baseline, "levels": [lv.summary() for lv in levels],
            "tokens_per_s_ratio_vs_baseline": ratios, "same_greedy_answers": same,
            "answers": {r: {c: by[r, c].answers for c in concurrencies} for r in runtimes}}


def _same(a: dict[int, str], b: dict[int, str]) -> str:
    shared = sorted(set(a) & set(b))
    return f"{sum(a[i] == b[i] for i in shared)}/{len(shared)}"


def plot_generators(report: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    runtimes = list(dict.fromkeys(lv["runtime"] for lv in report["levels"]))
    for r in runtimes:
        rows = [lv for lv in report["levels"] if lv["runtime"] == r]
        ax.plot([lv["concurrency"] for lv in rows], [lv["tokens_per_s"] for lv in rows], marker="o", label=r,
                linestyle="--" if r.startswith("inprocess") else "-")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("concurrent chats (closed loop)")
    ax.set_ylabel("aggregate output tokens/s")
    ax.set_title(f"{report['model']}, {report['max_tokens']}-token greedy chats, {report['cpu_count']} cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# -- mixed load through the gateway ------------------------------------------------------------------
def _specialist_calls(base: str, n: int) -> dict[str, list[float]]:
    import httpx

    calls = {"embeddings": ("/v1/embeddings", {"input": "The invoice is overdue by ten days."}),
             "pii": ("/v1/skills/pii", {"input": "Call Marta Kowalska on +48 601 234 567 about the invoice."})}
    times: dict[str, list[float]] = {name: [] for name in calls}
    with httpx.Client(timeout=60) as client:
        for _ in range(n):
            for name, (path, body) in calls.items():
                started = time.perf_counter()
                r = client.post(base + path, json=body)
                r.raise_for_status()
                times[name].append(1000 * (time.perf_counter() - started))
    return times


def _chat_load(base: str, stop: threading.Event, counts: list[int]) -> None:
    import httpx

    with httpx.Client(timeout=120) as client:
        i = 0
        while not stop.is_set():
            body = {"model": "small", "max_tokens": MAX_TOKENS, "temperature": 0,
                    "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)]}]}
            r = client.post(base + "/v1/chat/completions", json=body)
            counts[0 if r.status_code == 200 else 1] += 1
            i += 1


def bench_mixed(model: str, chats: int, n: int, nice: int,
                progress: Callable[..., Any] = lambda n=1: None) -> dict[str, Any]:
    """Specialists' latency alone, then with ``chats`` concurrent chat workers on the small tier, the
    generator's child at niceness ``nice``."""
    import httpx
    import yaml

    from slmkit.config import get_settings

    settings = get_settings()
    with tempfile.TemporaryDirectory() as data:
        config = Path(data) / "config.yaml"
        tiers = {"small": {"model": model}, "large": {"model": model}}
        config.write_text(yaml.safe_dump({"router": {"strategy": "small", "tiers": tiers, "server_nice": nice},
                                          "guard": {"moderation": "off", "injection": "off"}}))
        with tempfile.TemporaryFile() as log:
            port = _free_port()
            env = {**os.environ, "SLMKIT_DATA_DIR": data, "SLMKIT_CONFIG": str(config),
                   "SLMKIT_CACHE_DIR": str(settings.cache)}
            serve = subprocess.Popen([sys.executable, "-m", "slmkit.cli", "serve", "--port", str(port)], env=env,
                                     stdout=log, stderr=log)
            base = f"http://127.0.0.1:{port}"
            try:
                _wait_up(base + "/readyz", serve)
                _specialist_calls(base, 5)  # load the specialists before timing them
                idle = _specialist_calls(base, n)
                progress()
                stop, counts = threading.Event(), [0, 0]
                workers = [threading.Thread(target=_chat_load, args=(base, stop, counts), daemon=True)
                           for _ in range(chats)]
                for w in workers:
                    w.start()
                time.sleep(3.0)  # the slots are generating before the timing starts
                loaded = _specialist_calls(base, n)
                stop.set()
                for w in workers:
                    w.join(180)
                progress()
                metrics = httpx.get(base + "/metrics", timeout=10).text
            finally:
                serve.terminate()
                serve.wait(60)
    rows = {}
    for name in idle:
        p95_idle, p95_loaded = _pct(idle[name], 0.95), _pct(loaded[name], 0.95)
        rows[name] = {"idle_p50_ms": round(_pct(idle[name], 0.5), 1), "idle_p95_ms": round(p95_idle, 1),
                      "loaded_p50_ms": round(_pct(loaded[name], 0.5), 1), "loaded_p95_ms": round(p95_loaded, 1),
                      "p95_ratio": round(p95_loaded / p95_idle, 2)}
    restarts = [line for line in metrics.splitlines() if line.startswith("slmkit_generator_restarts_total")]
    return {"model": model, "server_nice": nice, "chat_workers": chats, "calls_per_phase": n, "specialists": rows,
            "chats_ok": counts[0], "chats_failed": counts[1], "generator_restarts": restarts}


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_up(url: str, proc: subprocess.Popen, seconds: float = 300) -> None:
    import httpx

    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"slmkit serve exited ({proc.returncode}) before it was ready")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up within {seconds:.0f} s")
