"""What the endpoints share (settings, router, specialists, key store, metrics), and who may call them:
API keys that fail closed, per-key rate limits and token budgets."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from slmkit.gateway.errors import ApiError
from slmkit.gateway.metrics import Metrics
from slmkit.gateway.store import ApiKey, GatewayStore
from slmkit.guard.redact import redact

if TYPE_CHECKING:
    from slmkit.api import SLM
    from slmkit.config import Settings
    from slmkit.plan.runner import Orchestrator
    from slmkit.router.router import Router


@dataclass
class Gateway:
    """What the endpoints share: settings, the router, the skills, the log and the metrics."""

    settings: Settings
    router: Router
    store: GatewayStore
    metrics: Metrics = field(default_factory=Metrics)
    slm: SLM | None = None
    _keys_cache: tuple[float, int] = (0.0, 0)
    ready: bool = False
    _orchestrator: Orchestrator | None = None

    @property
    def orchestrator(self) -> Orchestrator:
        """The planner and workflow runner, on the gateway's own router and skills."""
        if self._orchestrator is None:
            from slmkit.plan.runner import Orchestrator  # the planner's layer loads on its first request

            self._orchestrator = Orchestrator(slm=self.skills, router=self.router, settings=self.settings)
        return self._orchestrator

    @property
    def skills(self) -> SLM:
        """The specialists, built on first use (also when the app runs without its lifespan, as in tests)."""
        if self.slm is None:
            from slmkit.api import SLM  # numpy and the skills: on first use, not at import

            self.slm = SLM()
        return self.slm

    def keys_required(self) -> bool:
        """Fails closed: once a key has ever existed, revoking the last one does not open the server."""
        if self.settings.gateway.auth == "off":
            return False
        at, count = self._keys_cache
        if time.monotonic() - at > 2.0:  # a new key takes effect within 2 s
            count = self.store.keys_ever_created()
            self._keys_cache = (time.monotonic(), count)
        return count > 0

    def admit(self, key: ApiKey | None) -> None:
        """Per-key requests-per-minute (a sliding window shared by every replica) and token budget."""
        if key is None:
            return
        if key.token_budget is not None and key.tokens_used >= key.token_budget:
            raise ApiError(429, f"key {key.id} has used its token budget of {key.token_budget}",
                           "insufficient_quota", "insufficient_quota")
        rpm = key.rpm or self.settings.gateway.default_rpm
        # Counted in the store, not in this process: replicas sharing a database share the window.
        admission = self.store.admit(key.id, rpm)
        if not admission.admitted:
            raise ApiError(429, f"rate limit of {rpm} requests per minute reached", "rate_limit_exceeded",
                           "rate_limit_exceeded", headers={"Retry-After": str(admission.retry_after)})

    def authenticate(self, authorization: str | None) -> ApiKey | None:
        """The caller's key (None while no key was ever made), admitted against its limits; else 401/429."""
        if not self.keys_required():
            return None
        if not authorization or not authorization.lower().startswith("bearer "):
            raise ApiError(401, "an API key is required: Authorization: Bearer sk-slm-...", "invalid_request_error",
                           "invalid_api_key")
        key = self.store.lookup(authorization[7:].strip())
        if key is None or key.revoked is not None:
            raise ApiError(401, "unknown or revoked API key", "invalid_request_error", "invalid_api_key")
        self.admit(key)
        return key

    def mask_pii(self, text: str) -> str:
        """What the request log keeps by default: the text with personal data masked (on the log thread),
        by the same PII skill the endpoints use."""
        found = self.skills.pii(text)
        return redact(text, found, "mask").text
