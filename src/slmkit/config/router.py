"""Tiers and routing in the settings file (the ``router:`` section); pydantic only.

    router:
      tiers:
        small: {kind: local, model: qwen2.5-coder-0.5b}
        large: {kind: remote, model: gpt-4o-mini, base_url: https://api.example.com/v1,
                api_key_env: OPENAI_API_KEY, price_in_per_1k: 0.00015, price_out_per_1k: 0.0006}
      strategy: cascade          # small | large | cascade | learned | combined
      cascade_threshold: 0.6
      fallback_tier: small
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, model_validator

# What a local forward pass costs, in the same unit as remote prices (USD): energy and
# hardware time per 1k tokens per billion parameters. An order of magnitude, configurable.
LOCAL_USD_PER_1K_TOKENS_PER_BPARAM = 0.00002

Strategy = Literal["small", "large", "cascade", "learned", "combined"]
STRATEGIES: tuple[Strategy, ...] = get_args(Strategy)  # the one list: the gateway, CLI and docs read it


class TierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Literal["local", "remote"] = "local"
    model: str  # a catalog name for local tiers, the served model id for remote ones
    base_url: str | None = None  # an OpenAI-compatible endpoint, ending in /v1
    api_key_env: str | None = None  # the environment variable holding the key; keys never live in YAML
    price_in_per_1k: float | None = Field(None, ge=0)
    price_out_per_1k: float | None = Field(None, ge=0)
    timeout_s: float = Field(60.0, gt=0)
    retries: int = Field(2, ge=0, le=10)  # extra attempts after a retryable failure (refused, 429, 502-504)
    breaker_failures: int = Field(5, ge=1)  # consecutive failures that open the circuit
    breaker_cooldown_s: float = Field(30.0, gt=0)  # how long an open circuit skips the backend
    threads: int | None = Field(None, ge=1, le=64)

    @model_validator(mode="after")
    def _remote_needs_url(self) -> TierConfig:
        if self.kind == "remote" and not self.base_url:
            raise ValueError("a remote tier needs base_url (an OpenAI-compatible endpoint ending in /v1)")
        return self


def _default_tiers() -> dict[str, TierConfig]:
    return {
        "small": TierConfig(model="qwen2.5-coder-0.5b"),
        "large": TierConfig(model="qwen2.5-coder-1.5b"),
    }


class RouterSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tiers: dict[str, TierConfig] = Field(default_factory=_default_tiers)
    small_tier: str = "small"
    large_tier: str = "large"
    strategy: Strategy = "cascade"
    # Accept the small tier's answer at or above this confidence (0-1); `slmkit route calibrate` fits it.
    cascade_threshold: float = Field(0.6, ge=0.0, le=1.0)
    # Send to the large tier when the learned router's "needs large" probability reaches this.
    learned_threshold: float = Field(0.5, ge=0.0, le=1.0)
    fallback_tier: str = "small"  # where a request goes when its chosen tier fails
    routes_file: str | None = None  # YAML of semantic routes; relative paths are under the data dir
    local_usd_per_1k_tokens_per_bparam: float = Field(LOCAL_USD_PER_1K_TOKENS_PER_BPARAM, ge=0)

    @model_validator(mode="after")
    def _tiers_exist(self) -> RouterSettings:
        for role in ("small_tier", "large_tier", "fallback_tier"):
            name = getattr(self, role)
            if name not in self.tiers:
                raise ValueError(f"{role} {name!r} is not one of the tiers: {', '.join(self.tiers)}")
        return self
