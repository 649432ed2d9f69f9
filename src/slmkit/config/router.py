"""Tiers and routing in the settings file (the ``router:`` section); pydantic only.

    router:
      tiers:
        small: {kind: local, model: qwen2.5-coder-0.5b}
        large: {kind: remote, model: gpt-4o-mini, base_url: https://api.example.com/v1,
                api_key_env: OPENAI_API_KEY, price_in_per_1k: 0.00015, price_out_per_1k: 0.0006}
      strategy: cascade          # small | large | cascade | learned | combined
      cascade_threshold: 0.6
      fallback_tier: small
      runtime: auto              # local tiers: server | inprocess | auto (server in the gateway, else inprocess)
      slots: 4                   # parallel sequences per llama-server child (continuous batching)
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

# What a local forward pass costs, in the same unit as remote prices (USD): energy and
# hardware time per 1k tokens per billion parameters. An order of magnitude, configurable.
LOCAL_USD_PER_1K_TOKENS_PER_BPARAM = 0.00002

# How a local tier runs its model. server: a supervised child llama-server (continuous batching over
# `slots` parallel sequences; a crash in llama.cpp costs a restart, not the gateway). inprocess: one
# llama_cpp.Llama in this process behind a lock (no start-up of a second process: one-shot commands).
# auto: server in the gateway (`slmkit serve`), inprocess everywhere else.
Runtime = Literal["auto", "server", "inprocess"]
RUNTIMES: tuple[Runtime, ...] = get_args(Runtime)
# Chosen by `slmkit bench generate --concurrency 1,2,4,8 --threads 2 --slots 2,4,8` on the 2-core kind
# (qwen2.5-coder-0.5b, 64-token greedy chats; in-process 22.6-22.8 tok/s at every concurrency):
# 2 slots cap at ~35 tok/s; 4 slots give 44 tok/s at concurrency 4 and 46.5 at 8; 8 slots give no more
# (46.6 at 8) but slower answers at 4. Threads: 2 (one per core); 1 thread halves everything (12.2 in-process,
# 24.9 tok/s with 4 slots at 4).
DEFAULT_SLOTS = 4
# `slmkit bench generate` (mixed load, 4 chats): specialists' p95 under load vs idle, child at nice 0 -> 10:
# embeddings 1.98x -> 1.84x, pii 2.27x -> 1.76x. A later run (8 chats, 24 per level): 1.12x -> 1.90x and
# 1.19x -> 1.91x, so the p95 ratio moves between runs by more than niceness moves it; 10 is kept because
# it can only give the specialists the CPU first, and both stay within 2x. Niceness only orders processes
# that want the CPU at once.
SERVER_NICE = 10
# llama.cpp's --poll for the children: how long (0-100) an idle compute thread spins waiting for work
# before it sleeps. Between decode steps the child samples and streams on one thread while the other
# spins; on 2 cores that spin takes the core the HTTP thread, the client and the gateway need.
# `slmkit bench generate --concurrency 1,4 --slots 4 --poll 0,50 --no-mixed` (24 chats per level, one run):
# 47.5 vs 46.8 tok/s at concurrency 4, 23.2 vs 23.5 at 1: no clear gain, so llama.cpp's default stays.
SERVER_POLL = 50

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
    runtime: Runtime | None = None  # local tiers: overrides the router's runtime for this tier
    slots: int | None = Field(None, ge=1, le=64)  # local server tiers: overrides the router's slots

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
    runtime: Runtime = "auto"  # how local tiers run (see Runtime); a tier's own `runtime` wins
    slots: int = Field(DEFAULT_SLOTS, ge=1, le=64)  # parallel sequences per llama-server child
    server_binary: str | None = None  # llama-server to run; default: the one `make llama-server` caches
    server_start_timeout_s: float = Field(120.0, gt=0)  # load the model and answer /health within this
    # Niceness added to llama-server children. A generator keeps every core busy while it decodes; at a
    # lower priority it yields them to the gateway's specialists (milliseconds each), which otherwise
    # wait behind it. Alone on the machine it loses nothing. See SERVER_NICE for the measurement.
    server_nice: int = Field(SERVER_NICE, ge=0, le=19)
    server_poll: int = Field(SERVER_POLL, ge=0, le=100)  # llama.cpp --poll; see SERVER_POLL

    _serving: bool = PrivateAttr(False)  # set by for_gateway: this process is a long-lived server

    def for_gateway(self) -> RouterSettings:
        """These settings as the gateway uses them: ``auto`` means server there."""
        copy = self.model_copy()
        copy._serving = True
        return copy

    def runtime_of(self, tier: str) -> Runtime:
        """A local tier's runtime: its own setting, else the router's. ``auto`` stays ``auto`` in the gateway
        (server, or in-process while the llama-server binary is not built) and is ``inprocess`` elsewhere."""
        chosen = self.tiers[tier].runtime or self.runtime
        if chosen == "auto" and not self._serving:
            return "inprocess"
        return chosen

    @model_validator(mode="after")
    def _tiers_exist(self) -> RouterSettings:
        for role in ("small_tier", "large_tier", "fallback_tier"):
            name = getattr(self, role)
            if name not in self.tiers:
                raise ValueError(f"{role} {name!r} is not one of the tiers: {', '.join(self.tiers)}")
        return self
