"""A tier answers chat messages: a local llama.cpp model or any OpenAI-compatible endpoint.

Both kinds give the same ``Completion`` plus a confidence in [0, 1] when they can
compute one (local tiers: the geometric-mean probability of the tokens they chose;
remote tiers: the same from the endpoint's logprobs when it returns them).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

from slmkit.errors import SlmkitError
from slmkit.models.llama import Completion, Message
from slmkit.router.settings import RouterSettings, TierConfig


class TierError(SlmkitError):
    """A tier could not answer (model missing, endpoint down, timeout, garbage reply)."""

    exit_code = 6

    def __init__(self, tier: str, reason: str) -> None:
        super().__init__(f"tier {tier!r} failed: {reason}")
        self.tier = tier
        self.reason = reason


@dataclass(frozen=True)
class Answer:
    completion: Completion
    confidence: float | None  # None: the tier cannot say how sure it is
    tier: str


def sequence_confidence(logprobs: list[float]) -> float:
    """Geometric-mean token probability: 1.0 for an answer the model was certain of token by token."""
    if not logprobs:
        return 0.0
    return math.exp(sum(logprobs) / len(logprobs))


def price_per_1k(config: TierConfig, settings: RouterSettings) -> tuple[float, float]:
    """(input, output) USD per 1k tokens: the configured price, or for local tiers parameters × a local rate."""
    if config.price_in_per_1k is not None or config.price_out_per_1k is not None:
        return config.price_in_per_1k or 0.0, config.price_out_per_1k or 0.0
    if config.kind == "local":
        from slmkit.models.catalog import CATALOG

        spec = CATALOG.get(config.model)
        rate = (spec.params / 1e9 if spec else 1.0) * settings.local_usd_per_1k_tokens_per_bparam
        return rate, rate
    return 0.0, 0.0  # a remote tier with no price: cost unknown, counted as free


def cost(config: TierConfig, settings: RouterSettings, prompt_tokens: int, completion_tokens: int) -> float:
    price_in, price_out = price_per_1k(config, settings)
    return (prompt_tokens * price_in + completion_tokens * price_out) / 1000


class LocalTier:
    def __init__(self, name: str, config: TierConfig, threads: int | None = None) -> None:
        self.name = name
        self.config = config
        self.threads = config.threads or threads
        self._generator: Any = None

    def warm_up(self) -> LocalTier:
        from slmkit.models.llama import get_generator

        try:
            self._generator = get_generator(self.config.model, self.threads).warm_up()
        except SlmkitError as exc:  # unknown or missing model: the router falls back and says why
            raise TierError(self.name, str(exc)) from None
        return self

    def answer(self, messages: list[Message], max_tokens: int = 256, scored: bool = False,
               json_schema: dict | None = None) -> Answer:
        if self._generator is None:
            self.warm_up()
        if scored and json_schema is None:
            completion, logprobs = self._generator.chat_scored(messages, max_tokens=max_tokens)
            return Answer(completion, sequence_confidence(logprobs), self.name)
        completion = self._generator.chat(messages, max_tokens=max_tokens, json_schema=json_schema)
        return Answer(completion, None, self.name)


class RemoteTier:
    """An OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp server, Ollama, hosted APIs)."""

    def __init__(self, name: str, config: TierConfig) -> None:
        self.name = name
        self.config = config

    def warm_up(self) -> RemoteTier:
        return self  # nothing to load; reachability is found out on the first call

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.config.api_key_env:
            key = os.environ.get(self.config.api_key_env)
            if not key:
                raise TierError(self.name, f"environment variable {self.config.api_key_env} (the API key) is not set")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def answer(self, messages: list[Message], max_tokens: int = 256, scored: bool = False,
               json_schema: dict | None = None) -> Answer:
        import httpx

        body: dict[str, Any] = {"model": self.config.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": 0}
        if scored:
            body["logprobs"] = True
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": json_schema, "strict": True}}
        url = self.config.base_url.rstrip("/") + "/chat/completions"  # type: ignore[union-attr]
        try:
            response = httpx.post(url, json=body, headers=self._headers(), timeout=self.config.timeout_s)
        except httpx.TimeoutException:
            raise TierError(self.name, f"no answer from {url} within {self.config.timeout_s:g} s") from None
        except httpx.HTTPError as exc:
            raise TierError(self.name, f"{url} unreachable ({type(exc).__name__}: {exc})") from None
        if response.status_code >= 400:
            raise TierError(self.name, f"{url} answered HTTP {response.status_code}: {response.text[:200]}")
        try:
            data = response.json()
            choice = data["choices"][0]
            text = choice["message"].get("content") or ""
            usage = data.get("usage") or {}
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            raise TierError(self.name, f"{url} returned something that is not a chat completion: "
                                       f"{response.text[:120]!r}") from None
        confidence = None
        content_logprobs = ((choice.get("logprobs") or {}).get("content") or []) if scored else []
        if content_logprobs:
            confidence = sequence_confidence([float(t.get("logprob", 0.0)) for t in content_logprobs])
        completion = Completion(text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                                choice.get("finish_reason") or "stop", data.get("model", self.config.model))
        return Answer(completion, confidence, self.name)


def make_tier(name: str, settings: RouterSettings, threads: int | None = None) -> LocalTier | RemoteTier:
    config = settings.tiers[name]
    return LocalTier(name, config, threads) if config.kind == "local" else RemoteTier(name, config)
