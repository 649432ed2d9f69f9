"""The Overview's figures for the last hour, day or week, without reading the whole log on each load.

A window is a run of aligned buckets (a minute for the hour, 15 minutes for the day, an hour for the
week). A bucket that closed more than ``GRACE_S`` ago cannot change any more (the log writer is
seconds behind at worst), so its aggregates are computed once, by the database (GROUP BY over the
covering index), and kept in memory; each load asks the database only about the buckets still open.
Latency quantiles stay exact to the millisecond: a bucket keeps how many requests took each whole
millisecond, and those counts merge across buckets.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from slmkit.gateway.store import GatewayStore

Window = Literal["hour", "day", "week"]
WINDOWS: dict[str, tuple[int, int]] = {"hour": (3600, 60), "day": (86_400, 900), "week": (7 * 86_400, 3600)}
GRACE_S = 120.0
# The tier mix groups tiers as an operator thinks of them; "fallback" is drawn over them (a fallback
# answer also counts under the tier that gave it).
GROUPS = ("specialist", "small", "large", "remote", "other")
_GUARD_ROWS = '%"guard": {%'
_ROUTE_ROWS = '%"route": "%'


def like_literal(text: str) -> str:
    """``text`` for a LIKE pattern with ``ESCAPE '\\'``: its own % and _ match only themselves."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def guard_patterns(pii_types: tuple[str, ...]) -> dict[str, str]:
    """LIKE patterns over the logged decision JSON (``Change`` records: kind, reason, type, placeholder)."""
    out = {f"redact:{t}": f'%"kind": "redact", "reason": "personal data", "type": {like_literal(json.dumps(t))}%'
           for t in pii_types}
    for kind in ("flag", "block"):
        out[f"moderation:{kind}"] = f'%"kind": "{kind}", "reason": "moderation score%'
        out[f"injection:{kind}"] = f'%"kind": "{kind}", "reason": "prompt-injection%'
    out["keep_local"] = '%"kind": "keep\\_local"%'
    return out


def route_patterns(routes: list[str]) -> dict[str, str]:
    return {name: f'%"route": {like_literal(json.dumps(name))}%' for name in routes}


@dataclass
class Bucket:
    tiers: dict[str | None, list[float]] = field(default_factory=dict)  # tier -> [n, errors, cost, large_cost]
    fallbacks: int = 0
    latency: dict[str, Counter[int]] = field(default_factory=dict)  # endpoint -> whole ms -> requests
    guard: dict[str, int] = field(default_factory=dict)
    routes: dict[str, int] = field(default_factory=dict)


def quantile(counts: Counter[int], q: float) -> int | None:
    """Nearest-rank quantile of a millisecond histogram."""
    total = sum(counts.values())
    if not total:
        return None
    rank, seen = max(1, math.ceil(round(q * total, 9))), 0
    for ms in sorted(counts):
        seen += counts[ms]
        if seen >= rank:
            return ms
    return max(counts)


class OverviewCache:
    def __init__(self, store: GatewayStore, group_of: Callable[[str | None], str], pii_types: tuple[str, ...],
                 routes: list[str]) -> None:
        self.store = store
        self.group_of = group_of
        self.guard_patterns = guard_patterns(pii_types)
        self.route_patterns = route_patterns(routes)
        self._closed: dict[tuple[int, int], Bucket] = {}  # (width, start) -> aggregates of a closed bucket
        self._merges: dict[str, tuple] = {}  # window -> ((first start, closed buckets), merged counts)
        self._lock = threading.Lock()

    def _compute(self, start: float, end: float, width: int) -> dict[int, Bucket]:
        """Aggregates of every bucket in [start, end) (``start`` aligned to ``width``), keyed by start time."""
        out: dict[int, Bucket] = {}

        def at(index: int) -> Bucket:
            return out.setdefault(int(start) + int(index) * width, Bucket())

        for row in self.store.log_buckets(start, end, width):
            at(row["bucket"]).tiers[row["tier"]] = [row["n"], row["errors"], row["cost"] or 0.0,
                                                   row["large_cost"] or 0.0]
        for row in self.store.log_fallbacks(start, end, width):
            at(row["bucket"]).fallbacks = int(row["n"])
        for bucket, endpoint, ms, n in self.store.log_latency_ms(start, end, width):
            at(bucket).latency.setdefault(endpoint, Counter())[int(ms)] += int(n)
        for bucket, counts in self.store.log_pattern_counts(start, end, width, self.guard_patterns,
                                                            _GUARD_ROWS).items():
            at(bucket).guard = counts
        for bucket, counts in self.store.log_pattern_counts(start, end, width, self.route_patterns,
                                                            _ROUTE_ROWS).items():
            at(bucket).routes = counts
        return out

    def buckets(self, window: Window, now: float | None = None) -> tuple[list[int], list[Bucket], int, int]:
        """The window's bucket starts and aggregates (oldest first), the bucket width, and how many of the
        buckets (the first ones) are closed."""
        span, width = WINDOWS[window]
        now = time.time() if now is None else now
        current = int(now // width) * width
        starts = [current - i * width for i in range(span // width - 1, -1, -1)]
        closed_until = now - GRACE_S  # buckets ending before this are final
        with self._lock:
            missing = [s for s in starts if s + width <= closed_until and (width, s) not in self._closed]
            if missing:
                computed = self._compute(missing[0], missing[-1] + width, width)
                for s in missing:
                    self._closed[(width, s)] = computed.get(s, Bucket())
            for key in [k for k in self._closed if k[0] == width and k[1] < starts[0]]:
                del self._closed[key]
            open_starts = [s for s in starts if s + width > closed_until]
            fresh = self._compute(open_starts[0], now + 1, width) if open_starts else {}
            rows = [self._closed[(width, s)] if s + width <= closed_until else fresh.get(s, Bucket()) for s in starts]
        return starts, rows, width, len(starts) - len(open_starts)

    def warm(self) -> None:
        """Compute every window's closed buckets now (at start-up), not on an operator's first load."""
        for window in WINDOWS:
            self.buckets(window)  # type: ignore[arg-type]

    def _merged_closed(self, window: Window, first: int, closed: list[Bucket]
                       ) -> tuple[dict[str, Counter[int]], Counter[str], Counter[str]]:
        """The latency, guard and route counts of the window's closed buckets, merged once per window
        position (a copy: the open buckets are added to it on each load)."""
        key = (first, len(closed))
        with self._lock:
            cached = self._merges.get(window)
            if cached is None or cached[0] != key:
                latency: dict[str, Counter[int]] = {}
                guard: Counter[str] = Counter()
                routes: Counter[str] = Counter()
                for b in closed:
                    for endpoint, counts in b.latency.items():
                        latency.setdefault(endpoint, Counter()).update(counts)
                    guard.update(b.guard)
                    routes.update(b.routes)
                cached = (key, latency, guard, routes)
                self._merges[window] = cached
        return {k: Counter(v) for k, v in cached[1].items()}, Counter(cached[2]), Counter(cached[3])

    def overview(self, window: Window, now: float | None = None) -> dict:
        starts, rows, width, n_closed = self.buckets(window, now)
        groups = {g: [0] * len(rows) for g in GROUPS}
        rpm, errors, fallbacks, cost_cum, large_cum = [], [], [], [], []
        latency, guard, routes = self._merged_closed(window, starts[0], rows[:n_closed])
        total = n_err = 0
        spent = large = 0.0
        for i, b in enumerate(rows):
            n = sum(int(v[0]) for v in b.tiers.values())
            e = sum(int(v[1]) for v in b.tiers.values())
            for tier, v in b.tiers.items():
                groups[self.group_of(tier)][i] += int(v[0])
            spent += sum(v[2] for v in b.tiers.values())
            large += sum(v[3] for v in b.tiers.values())
            total, n_err = total + n, n_err + e
            rpm.append(round(n / (width / 60), 3))
            errors.append(round(100 * e / n, 2) if n else None)
            fallbacks.append(b.fallbacks)
            cost_cum.append(round(spent, 6))
            large_cum.append(round(large, 6))
            if i >= n_closed:
                for endpoint, counts in b.latency.items():
                    latency.setdefault(endpoint, Counter()).update(counts)
                guard.update(b.guard)
                routes.update(b.routes)
        return {
            "window": window, "width": width, "starts": starts,
            "totals": {"requests": total, "errors": n_err, "error_rate": (100 * n_err / total) if total else 0.0,
                       "cost": spent, "large_cost": large, "saved": large - spent, "fallbacks": sum(fallbacks)},
            "series": {"rpm": rpm, "error_rate": errors, "fallback": fallbacks, "cost": cost_cum, "large": large_cum,
                       **{f"tier:{g}": v for g, v in groups.items()}},
            "latency": [{"endpoint": ep, "n": sum(c.values()), "p50": quantile(c, 0.5), "p95": quantile(c, 0.95)}
                        for ep, c in sorted(latency.items())],
            "guard": dict(guard), "routes": dict(routes),
        }
