"""A tier answers chat messages: a local llama.cpp model or any OpenAI-compatible endpoint.

Both kinds give the same ``Completion`` plus a confidence in [0, 1] when they can
compute one (local tiers: the geometric-mean probability of the tokens they chose;
remote tiers: the same from the endpoint's logprobs when it returns them).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from slmkit.errors import SlmkitError
from slmkit.models.llama import Completion, Delta, Message, Sampling, ToolCall, ToolCallPiece, ToolUse
from slmkit.config.router import RouterSettings, TierConfig


if TYPE_CHECKING:
    from slmkit.models.llama import LlamaGenerator


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
        self._generator: LlamaGenerator | None = None

    def warm_up(self) -> LocalTier:
        from slmkit.models.llama import get_generator

        try:
            self._generator = get_generator(self.config.model, self.threads).warm_up()
        except SlmkitError as exc:  # unknown or missing model: the router falls back and says why
            raise TierError(self.name, str(exc)) from None
        return self

    def _ready(self) -> LlamaGenerator:
        if self._generator is None:
            self.warm_up()
        assert self._generator is not None
        return self._generator

    def answer(self, messages: list[Message], max_tokens: int = 256, scored: bool = False,
               json_schema: dict | None = None, sampling: Sampling = Sampling(),
               tools: ToolUse | None = None) -> Answer:
        generator = self._ready()
        if scored and json_schema is None and (tools is None or not tools.offered):
            # Confidence is read off the greedy answer, whatever temperature the request asked for:
            # it is the small tier judging itself, not the answer's style.
            completion, logprobs = generator.chat_scored(messages, max_tokens=max_tokens, stop=sampling.stop)
            return Answer(completion, sequence_confidence(logprobs), self.name)
        completion = generator.chat(messages, max_tokens=max_tokens, json_schema=json_schema, tools=tools,
                                    **_local_sampling(sampling))
        return Answer(completion, None, self.name)

    def stream(self, messages: list[Message], max_tokens: int = 256, json_schema: dict | None = None,
               sampling: Sampling = Sampling(), tools: ToolUse | None = None) -> Iterator[Delta]:
        """Pieces as they are generated; closing the iterator stops the generation (and frees the model)."""
        return self._ready().stream(messages, max_tokens=max_tokens, json_schema=json_schema, tools=tools,
                                    **_local_sampling(sampling))


def _local_sampling(sampling: Sampling) -> dict[str, Any]:
    # llama.cpp seeds are 32-bit; OpenAI's are 64-bit and may be negative. No seed: 0, reproducible.
    return {"temperature": sampling.temperature, "top_p": sampling.top_p,
            "seed": 0 if sampling.seed is None else sampling.seed % 2**32, "stop": sampling.stop}


class RemoteTier:
    """An OpenAI-compatible ``/chat/completions`` endpoint (vLLM, llama.cpp server, Ollama, hosted APIs).

    Retryable failures are retried with jittered backoff; repeated failures open the
    backend's circuit breaker, after which calls fail at once (and the router falls back)."""

    def __init__(self, name: str, config: TierConfig) -> None:
        from slmkit.router.resilience import breaker_for

        self.name = name
        self.config = config
        self.url = config.base_url.rstrip("/") + "/chat/completions"  # type: ignore[union-attr]
        self.breaker = breaker_for(self.url, config.breaker_failures, config.breaker_cooldown_s)
        self._client: Any = None  # one pooled connection set per tier: no TCP set-up per request

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

    def _body(self, messages: list[Message], max_tokens: int, scored: bool, json_schema: dict | None,
              stream: bool = False, sampling: Sampling = Sampling(), tools: ToolUse | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.config.model, "messages": messages, "max_tokens": max_tokens,
                                "temperature": sampling.temperature}
        if sampling.top_p is not None:
            body["top_p"] = sampling.top_p
        if sampling.seed is not None:
            body["seed"] = sampling.seed
        if sampling.stop:
            body["stop"] = list(sampling.stop)
        if tools is not None and tools.tools:
            body["tools"] = [{"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters,
                **({"strict": t.strict} if t.strict is not None else {})}} for t in tools.tools]
            body["tool_choice"] = ({"type": "function", "function": {"name": tools.force}} if tools.force
                                   else tools.choice)
        if scored:
            body["logprobs"] = True
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        if json_schema is not None:
            body["response_format"] = {"type": "json_schema",
                                       "json_schema": {"name": "answer", "schema": json_schema, "strict": True}}
        return body

    def _guarded(self, call):  # noqa: ANN001, ANN202
        """Breaker and retries around one request; every failure becomes a TierError."""
        import httpx

        from slmkit.router.resilience import Retryable, with_retries

        if not self.breaker.allow():
            raise TierError(self.name, f"circuit open for {self.url} after repeated failures")

        def attempt():  # noqa: ANN202
            try:
                return call(httpx)
            except httpx.TimeoutException:
                raise TierError(self.name, f"no answer from {self.url} within {self.config.timeout_s:g} s") from None
            except (httpx.ConnectError, httpx.RemoteProtocolError) as exc:
                raise Retryable(f"{self.url} unreachable ({type(exc).__name__}: {exc})") from None
            except httpx.HTTPError as exc:
                raise TierError(self.name, f"{self.url} failed ({type(exc).__name__}: {exc})") from None

        try:
            result = with_retries(attempt, attempts=self.config.retries + 1)
        except Retryable as exc:
            self.breaker.failure()
            raise TierError(self.name, str(exc)) from None
        except TierError:
            self.breaker.failure()
            raise
        self.breaker.success()
        return result

    def _check_status(self, response) -> None:  # noqa: ANN001
        from slmkit.router.resilience import Retryable

        if response.status_code in (429, 502, 503, 504):
            raise Retryable(f"{self.url} answered HTTP {response.status_code}")
        if response.status_code >= 400:
            raise TierError(self.name, f"{self.url} answered HTTP {response.status_code}: {response.text[:200]}")

    def answer(self, messages: list[Message], max_tokens: int = 256, scored: bool = False,
               json_schema: dict | None = None, sampling: Sampling = Sampling(),
               tools: ToolUse | None = None) -> Answer:
        body = self._body(messages, max_tokens, scored, json_schema, sampling=sampling, tools=tools)

        def call(httpx):  # noqa: ANN001, ANN202
            if self._client is None:
                self._client = httpx.Client(timeout=self.config.timeout_s,
                                            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
            response = self._client.post(self.url, json=body, headers=self._headers())
            self._check_status(response)
            try:
                data = response.json()
                choice = data["choices"][0]
                text = choice["message"].get("content") or ""
                calls = tuple(ToolCall(str(c["id"]), str(c["function"]["name"]), str(c["function"]["arguments"]))
                              for c in choice["message"].get("tool_calls") or [])
                usage = data.get("usage") or {}
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                raise TierError(self.name, f"{self.url} returned something that is not a chat completion: "
                                           f"{response.text[:120]!r}") from None
            return data, choice, text, calls, usage

        data, choice, text, calls, usage = self._guarded(call)
        confidence = None
        content_logprobs = ((choice.get("logprobs") or {}).get("content") or []) if scored else []
        if content_logprobs:
            confidence = sequence_confidence([float(t.get("logprob", 0.0)) for t in content_logprobs])
        completion = Completion(text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                                choice.get("finish_reason") or "stop", data.get("model", self.config.model),
                                calls)
        return Answer(completion, confidence, self.name)

    def stream(self, messages: list[Message], max_tokens: int = 256, json_schema: dict | None = None,
               sampling: Sampling = Sampling(), tools: ToolUse | None = None) -> Iterator[Delta]:
        """Yield ``Delta`` pieces from the endpoint's SSE stream. Failures before the first piece raise
        TierError (the caller can still fall back); a stream cut later ends with finish_reason "error"."""
        import json as _json

        import httpx

        body = self._body(messages, max_tokens, False, json_schema, stream=True, sampling=sampling, tools=tools)
        client = httpx.Client(timeout=self.config.timeout_s)

        def open_stream(_httpx):  # noqa: ANN001, ANN202
            request = client.build_request("POST", self.url, json=body, headers=self._headers())
            response = client.send(request, stream=True)
            if response.status_code >= 400:
                response.read()
                response.close()
                self._check_status(response)
            return response

        try:
            response = self._guarded(open_stream)
        except TierError:
            client.close()
            raise
        prompt_tokens = completion_tokens = 0
        finish = None
        try:
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                payload = line[5:].strip()
                if payload == "[DONE]":
                    break
                try:
                    chunk = _json.loads(payload)
                except ValueError:
                    finish = "error"
                    break
                usage = chunk.get("usage") or {}
                prompt_tokens = usage.get("prompt_tokens", prompt_tokens)
                completion_tokens = usage.get("completion_tokens", completion_tokens)
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    piece = delta.get("content") or ""
                    if piece:
                        yield Delta(piece)
                    for call in delta.get("tool_calls") or []:
                        yield Delta("", tool_call=_call_piece(call))
                    finish = choice.get("finish_reason") or finish
        except httpx.HTTPError:
            finish = "error"  # the upstream went away mid-stream
            self.breaker.failure()
        finally:
            response.close()
            client.close()
        yield Delta("", finish_reason=finish or "error", prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens)


def _call_piece(call: dict[str, Any]) -> ToolCallPiece:
    """One streamed OpenAI ``tool_calls`` entry: id and name come with a call's first piece only."""
    fn = call.get("function") or {}
    return ToolCallPiece(int(call.get("index", 0)), str(fn.get("arguments") or ""), call.get("id"), fn.get("name"))


def make_tier(name: str, settings: RouterSettings, threads: int | None = None) -> LocalTier | RemoteTier:
    config = settings.tiers[name]
    return LocalTier(name, config, threads) if config.kind == "local" else RemoteTier(name, config)
