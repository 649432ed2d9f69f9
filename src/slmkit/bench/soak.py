"""`slmkit bench soak`: the gateway under a steady mixed load for minutes; errors and memory over time.

Open loop (requests start on a fixed schedule whether or not earlier ones finished),
a mix of what a deployment sees: embeddings, specialists, moderation, a routed
request a specialist answers, and short generations on the small tier. The server's
resident memory is read from /proc every ``sample_s`` seconds.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from slmkit.bench.gateway import _free_port, _pct, _wait

MIX = [
    ("/v1/embeddings", {"input": ["quarterly revenue by region", "book a table for two"]}),
    ("/v1/skills/sentiment", {"input": "the new dashboard is a joy to use"}),
    ("/v1/skills/pii", {"input": "Send the invoice to anna.berg@example.com or call +1 415 555 0100"}),
    ("/v1/moderations", {"input": "thanks for the quick answer"}),
    ("/v1/embeddings", {"input": "where is my parcel"}),
    ("/v1/chat/completions", {"model": "auto", "messages": [{"role": "user", "content": "I loved this film"}]}),
    ("/v1/skills/langid", {"input": "Bonjour, je voudrais réserver une table"}),
    ("/v1/skills/sentiment", {"input": "support never answered my emails"}),
    ("/v1/embeddings", {"input": "reset my password"}),
    ("/v1/chat/completions", {"model": "small", "max_tokens": 4,
                              "messages": [{"role": "user", "content": "Say yes."}]}),
]


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _run(base: str, rps: float, seconds: float, pid: int, sample_s: float) -> dict:
    import httpx

    latencies: list[float] = []
    errors: list[str] = []
    memory: list[tuple[float, float]] = []
    pending: set[asyncio.Task] = set()
    async with httpx.AsyncClient(base_url=base, timeout=60,
                                 limits=httpx.Limits(max_connections=64, max_keepalive_connections=32)) as client:
        async def one(path: str, body: dict) -> None:
            started = time.perf_counter()
            try:
                response = await client.post(path, json=body)
                if response.status_code != 200:
                    errors.append(f"{path}: HTTP {response.status_code} {response.text[:120]}")
            except httpx.HTTPError as exc:
                errors.append(f"{path}: {type(exc).__name__}")
            latencies.append(1000 * (time.perf_counter() - started))

        start = time.perf_counter()
        next_sample = 0.0
        for i, (path, body) in enumerate(itertools.cycle(MIX)):
            due = start + i / rps
            now = time.perf_counter()
            if due - start >= seconds:
                break
            if now - start >= next_sample:
                memory.append((round(now - start, 1), _rss_mb(pid)))
                next_sample += sample_s
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.create_task(one(path, body))
            pending.add(task)
            task.add_done_callback(pending.discard)
        await asyncio.gather(*pending)
        memory.append((round(time.perf_counter() - start, 1), _rss_mb(pid)))
    return {"requests": len(latencies), "errors": len(errors), "error_samples": errors[:10],
            "p50_ms": _pct(latencies, 0.5), "p95_ms": _pct(latencies, 0.95), "p99_ms": _pct(latencies, 0.99),
            "rss_mb": memory}


def soak(minutes: float, rps: float, sample_s: float = 30.0) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="slmkit-soak-"))
    routes = tmp / "routes.yaml"
    routes.write_text(yaml.safe_dump({"routes": [
        {"name": "sentiment", "target": "skill:sentiment", "threshold": 0.35, "utterances": [
            "I loved this film", "what a terrible waste of money", "the service was wonderful"]}]}))
    config = tmp / "config.yaml"
    config.write_text(yaml.safe_dump({"router": {"routes_file": str(routes), "strategy": "small"}}))
    from slmkit.config import get_settings

    env = {**os.environ, "SLMKIT_CONFIG": str(config), "SLMKIT_DATA_DIR": str(tmp / "data"),
           "SLMKIT_CACHE_DIR": str(get_settings().cache)}
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "slmkit.cli", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"
        _wait(base + "/readyz", 300)
        # One pass through the mix first, so every lazily loaded specialist is in memory at t=0.
        warm = asyncio.run(_run(base, 5.0, len(MIX) / 5.0, proc.pid, 1e9))
        result = asyncio.run(_run(base, rps, minutes * 60, proc.pid, sample_s))
        import sqlite3

        # The log is written behind the requests: give the writer a moment to catch up, then count.
        expected, logged, deadline = warm["requests"] + result["requests"], 0, time.time() + 10
        while logged < expected and time.time() < deadline:
            with sqlite3.connect(tmp / "data" / "gateway.sqlite") as db:
                logged = db.execute("SELECT COUNT(*) FROM requests").fetchone()[0]
            time.sleep(0.2)
        result.update({"minutes": minutes, "rps": rps, "logged_requests": logged, "sent_requests": expected})
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
