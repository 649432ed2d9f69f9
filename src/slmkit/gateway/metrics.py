"""Prometheus metrics in the text exposition format, kept in-process (no client library needed)."""

from __future__ import annotations

import threading
from collections import defaultdict

from slmkit.models.llama_server import all_servers

BUCKETS_MS = (5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)


def label_set(pairs: dict[str, str]) -> str:
    if not pairs:
        return ""
    inner = ",".join(f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                     for k, v in sorted(pairs.items()))
    return "{" + inner + "}"


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[tuple[str, tuple], float] = defaultdict(float)
        self.hist: dict[tuple, list[float]] = {}
        self.hist_sum: dict[tuple, float] = defaultdict(float)
        self.hist_count: dict[tuple, int] = defaultdict(int)

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        with self._lock:
            self.counters[(name, tuple(sorted(labels.items())))] += value

    def observe_latency(self, ms: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            buckets = self.hist.setdefault(key, [0.0] * (len(BUCKETS_MS) + 1))
            for i, bound in enumerate(BUCKETS_MS):
                if ms <= bound:
                    buckets[i] += 1
            buckets[-1] += 1
            self.hist_sum[key] += ms / 1000
            self.hist_count[key] += 1

    def render(self, breakers: dict[str, object]) -> str:
        lines: list[str] = []
        helps = {
            "slmkit_requests_total": "Requests by endpoint, tier and status.",
            "slmkit_tokens_total": "Prompt and completion tokens by tier.",
            "slmkit_cost_usd_total": "Estimated cost of answered requests.",
            "slmkit_saved_usd_total": "Estimated cost saved against sending everything to the large tier.",
            "slmkit_errors_total": "Requests that ended in an error, by type.",
            "slmkit_fallbacks_total": "Requests answered by a fallback tier.",
        }
        with self._lock:
            by_name: dict[str, list[tuple[tuple, float]]] = defaultdict(list)
            for (name, labels), value in self.counters.items():
                by_name[name].append((labels, value))
            for name in sorted(set(helps) | set(by_name)):
                lines.append(f"# HELP {name} {helps.get(name, name)}")
                lines.append(f"# TYPE {name} counter")
                for labels, value in sorted(by_name.get(name, [])):
                    lines.append(f"{name}{label_set(dict(labels))} {value:g}")
            lines.append("# HELP slmkit_request_duration_seconds Request latency by endpoint and tier.")
            lines.append("# TYPE slmkit_request_duration_seconds histogram")
            for key, buckets in sorted(self.hist.items()):
                base = dict(key)
                for bound, count in zip([*BUCKETS_MS, None], buckets, strict=True):
                    le = "+Inf" if bound is None else f"{bound / 1000:g}"
                    lines.append(f"slmkit_request_duration_seconds_bucket{label_set({**base, 'le': le})} {count:g}")
                lines.append(f"slmkit_request_duration_seconds_sum{label_set(base)} {self.hist_sum[key]:.6f}")
                lines.append(f"slmkit_request_duration_seconds_count{label_set(base)} {self.hist_count[key]}")
        lines.append("# HELP slmkit_breaker_open Circuit breaker per remote backend: 1 open, 0.5 half-open, 0 closed.")
        lines.append("# TYPE slmkit_breaker_open gauge")
        for url, breaker in sorted(breakers.items()):
            state = getattr(breaker, "state", "closed")
            value = {"open": 1, "half_open": 0.5}.get(state, 0)
            lines.append(f"slmkit_breaker_open{label_set({'backend': url})} {value}")
        lines.append("# HELP slmkit_generator_restarts_total Local generator processes (llama-server) that died "
                     "and were restarted.")
        lines.append("# TYPE slmkit_generator_restarts_total counter")
        for server in all_servers():
            spec = server.spec
            labels = {"model": spec.model, "slots": str(spec.slots), "threads": str(spec.threads)}
            lines.append(f"slmkit_generator_restarts_total{label_set(labels)} {server.restarts}")
        return "\n".join(lines) + "\n"
