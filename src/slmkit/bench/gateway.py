"""`slmkit bench gateway`: what the gateway adds to a request, side by side with the LiteLLM proxy.

Both sit in front of the same instant upstream (baselines/instant_upstream.py), each in
its own process, on this machine's cores, with the same load generator:
  * added latency: sequential requests, each one's latency minus the direct upstream's median;
  * sustained throughput: closed-loop load at several concurrencies for a fixed time, the best
    requests/s reached with no errors.
slmkit's path is pass-through: a remote tier pinned by name, guard off, no content logging
(what LiteLLM does). Also: end-to-end latency of a routed request a specialist answers.
"""

from __future__ import annotations

import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

BODY = {"model": "upstream", "messages": [{"role": "user", "content": "Say ok."}], "max_tokens": 8}
UPSTREAM = Path(__file__).parent / "baselines" / "instant_upstream.py"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait(url: str, seconds: float = 120) -> None:
    import httpx

    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up within {seconds:.0f} s")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


@dataclass
class Target:
    name: str
    url: str  # the chat-completions URL
    latencies_ms: list[float] = field(default_factory=list)
    throughput: dict[int, dict] = field(default_factory=dict)


def sequential(url: str, n: int, body: dict) -> list[float]:
    import httpx

    out = []
    with httpx.Client(timeout=30) as client:
        for _ in range(20):
            client.post(url, json=body)
        for _ in range(n):
            started = time.perf_counter()
            response = client.post(url, json=body)
            out.append(1000 * (time.perf_counter() - started))
            if response.status_code != 200:
                raise RuntimeError(f"{url} answered {response.status_code}: {response.text[:200]}")
    return out


async def _load(url: str, concurrency: int, seconds: float, body: dict) -> dict:
    import httpx

    ok = errors = 0
    stop = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        async def worker() -> None:
            nonlocal ok, errors
            while time.perf_counter() < stop:
                try:
                    response = await client.post(url, json=body)
                    ok += response.status_code == 200
                    errors += response.status_code != 200
                except httpx.HTTPError:
                    errors += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {"concurrency": concurrency, "ok": ok, "errors": errors, "rps": ok / elapsed}


def bench_gateway(litellm: str | None, n: int = 400, seconds: float = 5.0,
                  concurrencies: tuple[int, ...] = (1, 8, 32), progress=None) -> dict:  # noqa: ANN001
    procs: list[subprocess.Popen] = []
    tmp = Path(tempfile.mkdtemp(prefix="slmkit-bench-gw-"))
    try:
        up_port = _free_port()
        procs.append(subprocess.Popen([sys.executable, str(UPSTREAM), str(up_port)]))
        upstream = f"http://127.0.0.1:{up_port}/v1"
        _wait(f"http://127.0.0.1:{up_port}/")

        ours_port = _free_port()
        routes = tmp / "routes.yaml"
        routes.write_text(yaml.safe_dump({"routes": [
            {"name": "sentiment", "target": "skill:sentiment", "threshold": 0.35, "utterances": [
                "I loved this film", "what a terrible waste of money", "the service was wonderful",
                "this product broke after a day, awful"]}]}))
        config = tmp / "config.yaml"
        config.write_text(yaml.safe_dump({
            "router": {"tiers": {"small": {"model": "smollm2-135m"},
                                 "upstream": {"kind": "remote", "model": "upstream", "base_url": upstream,
                                              "timeout_s": 30}},
                       "small_tier": "small", "large_tier": "upstream", "fallback_tier": "small",
                       "strategy": "small", "routes_file": str(routes)},
            "guard": {"redact": "off", "moderation": "off", "injection": "off", "unredacted_pii_remote": "allow"},
            "gateway": {"log_content": "none"},
        }))
        env = {**os.environ, "SLMKIT_CONFIG": str(config), "SLMKIT_DATA_DIR": str(tmp / "data"),
               "SLMKIT_CACHE_DIR": str(Path(os.environ.get("SLMKIT_CACHE_DIR") or _default_cache()))}
        procs.append(subprocess.Popen([sys.executable, "-m", "slmkit.cli", "serve", "--port", str(ours_port),
                                       "--no-warm"], env=env, stdout=subprocess.DEVNULL))
        _wait(f"http://127.0.0.1:{ours_port}/healthz")
        targets = [Target("upstream (direct)", f"{upstream}/chat/completions"),
                   Target("slmkit", f"http://127.0.0.1:{ours_port}/v1/chat/completions")]
        if litellm:
            lite_port = _free_port()
            lite_config = tmp / "litellm.yaml"
            lite_config.write_text(yaml.safe_dump({
                "model_list": [{"model_name": "upstream", "litellm_params": {
                    "model": "openai/upstream", "api_base": upstream, "api_key": "unused"}}],
                "litellm_settings": {"telemetry": False, "drop_params": True, "set_verbose": False},
            }))
            # No auth on either side, so both do the same work per request.
            lite_env = {**os.environ, "LITELLM_LOG": "ERROR", "LITELLM_TELEMETRY": "False",
                        "DISABLE_SCHEMA_UPDATE": "True", "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true"}
            procs.append(subprocess.Popen([litellm, "--config", str(lite_config), "--port", str(lite_port),
                                           "--host", "127.0.0.1", "--num_workers", "1"], env=lite_env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            _wait(f"http://127.0.0.1:{lite_port}/health/liveliness", 240)
            targets.append(Target("litellm", f"http://127.0.0.1:{lite_port}/v1/chat/completions"))
        for target in targets:
            target.latencies_ms = sequential(target.url, n, BODY)
            if progress:
                progress(1)
            for c in concurrencies:
                target.throughput[c] = asyncio.run(_load(target.url, c, seconds, BODY))
            if progress:
                progress(1)
        base = statistics.median(targets[0].latencies_ms)
        rows = {}
        for target in targets:
            added = [x - base for x in target.latencies_ms]
            clean = [t for t in target.throughput.values() if t["errors"] == 0]
            rows[target.name] = {
                "latency_p50_ms": _pct(target.latencies_ms, 0.5),
                "added_p50_ms": _pct(added, 0.5), "added_p95_ms": _pct(added, 0.95),
                "added_p99_ms": _pct(added, 0.99),
                "max_sustained_rps": max((t["rps"] for t in clean), default=0.0),
                "throughput": list(target.throughput.values()),
            }
        specialist = sequential(f"http://127.0.0.1:{ours_port}/v1/chat/completions", 100,
                                {"model": "auto", "messages": [{"role": "user", "content": "I loved this film"}]})
        result = {"targets": rows, "requests": n, "seconds_per_level": seconds,
                  "routed_to_specialist_ms": {"p50": _pct(specialist, 0.5), "p95": _pct(specialist, 0.95)}}
        if litellm:
            result["ratio_added_p50"] = rows["slmkit"]["added_p50_ms"] / max(rows["litellm"]["added_p50_ms"], 1e-9)
            result["ratio_rps"] = rows["slmkit"]["max_sustained_rps"] / max(rows["litellm"]["max_sustained_rps"],
                                                                           1e-9)
        return result
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _default_cache() -> Path:
    from slmkit.config import get_settings

    return get_settings().cache
