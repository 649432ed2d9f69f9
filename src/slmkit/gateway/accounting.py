"""What every answered request leaves behind: metrics, the key's token use, and a request-log row."""

from __future__ import annotations

import secrets
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from slmkit.gateway.context import Gateway
    from slmkit.gateway.store import ApiKey
    from slmkit.router.decision import Decision


def account(gateway: Gateway, endpoint: str, key: ApiKey | None, started: float, *, model: str | None = None,
             tier: str | None = None, strategy: str | None = None, tokens: tuple[int, int] = (0, 0),
             decision: Decision | None = None, content: str | None = None, status: int = 200,
             error: str | None = None) -> None:
    ms = 1000 * (time.perf_counter() - started)
    m = gateway.metrics
    m.inc("slmkit_requests_total", endpoint=endpoint, tier=tier or "none", status=str(status))
    m.observe_latency(ms, endpoint=endpoint, tier=tier or "none")
    if tokens != (0, 0):
        m.inc("slmkit_tokens_total", tokens[0], tier=tier or "none", kind="prompt")
        m.inc("slmkit_tokens_total", tokens[1], tier=tier or "none", kind="completion")
    if decision is not None:
        m.inc("slmkit_cost_usd_total", decision.cost, tier=decision.tier)
        m.inc("slmkit_saved_usd_total", max(decision.saving, 0.0), tier=decision.tier)
        if decision.fallback:
            m.inc("slmkit_fallbacks_total", tier=decision.tier)
    if error:
        m.inc("slmkit_errors_total", type="upstream_error", status=str(status))
    if key is not None and sum(tokens):
        gateway.store.add_tokens(key.id, sum(tokens))
    gateway.store.log(
        id="req-" + secrets.token_hex(8), ts=time.time(), key_id=key.id if key else None, endpoint=endpoint,
        model=model, status=status, latency_ms=round(ms, 2), tier=tier, strategy=strategy,
        prompt_tokens=tokens[0], completion_tokens=tokens[1],
        cost=decision.cost if decision is not None else None, saving=decision.saving if decision is not None else None,
        error=error, content=content or None,
        decision=decision.to_dict() if decision is not None else None)
