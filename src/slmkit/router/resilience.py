"""Retries with jittered backoff and a circuit breaker, per remote backend.

A backend that keeps failing is skipped (the breaker is open) for ``cooldown_s``,
so requests fall back to a local tier at once instead of each waiting out a
timeout; after the cool-down one trial request is let through (half-open), and
its outcome closes or re-opens the breaker.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, TypeVar

T = TypeVar("T")
State = Literal["closed", "open", "half_open"]


@dataclass
class Breaker:
    failures_to_open: int = 5
    cooldown_s: float = 30.0
    state: State = "closed"
    failures: int = 0
    opened_at: float = 0.0
    opened_count: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _trial_out: bool = field(default=False, repr=False)

    def allow(self) -> bool:
        with self._lock:
            if self.state == "open" and time.monotonic() - self.opened_at >= self.cooldown_s:
                self.state, self._trial_out = "half_open", False
            if self.state == "half_open":
                if self._trial_out:
                    return False  # one trial at a time
                self._trial_out = True
                return True
            return self.state == "closed"

    def success(self) -> None:
        with self._lock:
            self.state, self.failures, self._trial_out = "closed", 0, False

    def failure(self) -> None:
        with self._lock:
            self.failures += 1
            if self.state == "half_open" or self.failures >= self.failures_to_open:
                if self.state != "open":
                    self.opened_count += 1
                self.state, self.opened_at, self._trial_out = "open", time.monotonic(), False


class Retryable(Exception):
    """A failure worth another try: connection refused or reset, 429, 502-504."""


def with_retries(call: Callable[[], T], attempts: int = 3, base_s: float = 0.1, cap_s: float = 2.0,
                 sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``call``; on ``Retryable`` wait full-jitter exponential backoff and try again."""
    for attempt in range(attempts):
        try:
            return call()
        except Retryable:
            if attempt == attempts - 1:
                raise
            sleep(random.uniform(0, min(cap_s, base_s * 2**attempt)))
    raise AssertionError("unreachable")


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(key: str, failures_to_open: int = 5, cooldown_s: float = 30.0) -> Breaker:
    """One breaker per backend URL for the whole process."""
    with _breakers_lock:
        if key not in _breakers:
            _breakers[key] = Breaker(failures_to_open, cooldown_s)
        return _breakers[key]


def all_breakers() -> dict[str, Breaker]:
    with _breakers_lock:
        return dict(_breakers)
