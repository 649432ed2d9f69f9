"""A tier answers chat messages: a local llama.cpp model or any OpenAI-compatible endpoint.

Both kinds give the same ``Completion`` plus a confidence in [0, 1] when they can
compute one (local tiers: the geometric-mean probability of the tokens they chose;
remote tiers: the same from the endpoint's logprobs when it returns them).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from slmkit.errors import SlmkitError
from slmkit.models.llama import Completion, Delta, Message, Sampling, ToolCall, ToolUse
from slmkit.models.served import LOCAL_TIMEOUT_S, parse_completion, sampling_fields, sse_deltas
from slmkit.config.router import RouterSettings, TierConfig


if TYPE_CHECKING:
    from slmkit.models.llama import LlamaGenerator
    from slmkit.models.llama_server import LlamaServer
    from slmkit.models.served import ServerGenerator, ServerRuntime


log = logging.getLogger(__name__)


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
        from slmkit.models.llama import inprocess_generator

        try:
            self._generator = inprocess_generator(self.config.model, self.threads).warm_up()
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
                                    **sampling_fields(sampling))
        return Answer(completion, None, self.name)

    def stream(self, messages: list[Message], max_tokens: int = 256, json_schema: dict | None = None,
               sampling: Sampling = Sampling(), tools: ToolUse | None = None) -> Iterator[Delta]:
        """Pieces as they are generated; closing the iterator stops the generation (and frees the model)."""
        return self._ready().stream(messages, max_tokens=max_tokens, json_schema=json_schema, tools=tools,
                                    **sampling_fields(sampling))


class _ChatClient:
    """A remote tier's OpenAI-compatible client: one request, or one SSE stream (read as the server runtime
    reads its children's, models/served.py)."""

    name: str
    config: TierConfig
    _client: Any

    def _guarded(self, call):  # noqa: ANN001, ANN202
        raise NotImplementedError

    def _check_status(self, response) -> None:  # noqa: ANN001
        raise NotImplementedError

    def _stream_failed(self) -> None:
        raise NotImplementedError

    def _timeout_s(self) -> float:
        raise NotImplementedError

    def _post(self, body: dict[str, Any]) -> tuple[dict, dict, str, tuple[ToolCall, ...], dict]:
        """One chat completion: (response, its first choice, text, tool calls, usage)."""

        def call(httpx, url: str, headers: dict[str, str]):  # noqa: ANN001, ANN202
            if self._client is None:
                self._client = httpx.Client(timeout=self._timeout_s(),
                                            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
            response = self._client.post(url, json=body, headers=headers)
            self._check_status(response)
            try:
                return parse_completion(response)
            except ValueError as exc:
                raise TierError(self.name, str(exc)) from None

        return self._guarded(call)

    def _stream_body(self, body: dict[str, Any]) -> Iterator[Delta]:
        import httpx

        client = httpx.Client(timeout=self._timeout_s())

        def open_stream(_httpx, url: str, headers: dict[str, str]):  # noqa: ANN001, ANN202
            request = client.build_request("POST", url, json=body, headers=headers)
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
        try:
            yield from sse_deltas(response, self._stream_failed)
        finally:
            response.close()
            client.close()


class RemoteTier(_ChatClient):
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
                return call(httpx, self.url, self._headers())
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
        data, choice, text, calls, usage = self._post(body)
        confidence = None
        content_logprobs = ((choice.get("logprobs") or {}).get("content") or []) if scored else []
        if content_logprobs:
            confidence = sequence_confidence([float(t.get("logprob", 0.0)) for t in content_logprobs])
        completion = Completion(text, int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                                choice.get("finish_reason") or "stop", data.get("model", self.config.model), calls)
        return Answer(completion, confidence, self.name)

    def _stream_failed(self) -> None:
        self.breaker.failure()

    def _timeout_s(self) -> float:
        return self.config.timeout_s

    def stream(self, messages: list[Message], max_tokens: int = 256, json_schema: dict | None = None,
               sampling: Sampling = Sampling(), tools: ToolUse | None = None) -> Iterator[Delta]:
        """Yield ``Delta`` pieces from the endpoint's SSE stream. Failures before the first piece raise
        TierError (the caller can still fall back); a stream cut later ends with finish_reason "error"."""
        body = self._body(messages, max_tokens, False, json_schema, stream=True, sampling=sampling, tools=tools)
        return self._stream_body(body)


class ServerTier:
    """A local tier whose model runs in a supervised ``llama-server`` child (models/llama_server.py).

    The child is asked through ``ServerGenerator`` (models/served.py), with the in-process runtime's turns,
    grammars and tool-call reading, so both local runtimes constrain and read replies alike; in the gateway
    the skills' generators share that generator, and so the child. This class adds what a tier is: a
    confidence for the cascade, and failures as TierError. A child that dies under a request fails that
    request with TierError saying so (the gateway answers 502; the supervisor restarts the child and the next
    request waits for it): a generation half done is not repeated, since a retry would double a slow request
    on a busy machine. Not a RemoteTier: a local model never leaves the machine, so the router's guard
    (which acts on RemoteTier) leaves its messages alone."""

    def __init__(self, name: str, config: TierConfig, settings: RouterSettings, threads: int | None = None) -> None:
        self.name = name
        self.config = config
        self.threads = config.threads or threads or 2
        self.slots = config.slots or settings.slots
        self._settings = settings
        self._generator: ServerGenerator | None = None

    @property
    def generator(self) -> ServerGenerator:
        if self._generator is None:
            try:
                runtime = _runtime_base(self._settings, self.threads)
                self._generator = runtime.generator(self.config.model, self.threads, self.slots)
            except SlmkitError as exc:  # unknown or missing model, no binary: the router falls back and says why
                raise TierError(self.name, str(exc)) from None
        return self._generator

    @property
    def server(self) -> LlamaServer:
        return self.generator.server

    def warm_up(self) -> ServerTier:
        from slmkit.models.llama_server import ServerUnavailable

        try:
            self.generator.warm_up()
        except ServerUnavailable as exc:
            raise TierError(self.name, str(exc)) from None
        return self

    def busy_slots(self) -> int:
        """How many of the child's slots are generating now (its /slots page): 0 once abandoned streams stopped."""
        return self.generator.busy_slots()

    def _timeout_s(self) -> float:
        return max(self.config.timeout_s, LOCAL_TIMEOUT_S)

    def answer(self, messages: list[Message], max_tokens: int = 256, scored: bool = False,
               json_schema: dict | None = None, sampling: Sampling = Sampling(),
               tools: ToolUse | None = None) -> Answer:
        from slmkit.models.llama import local_turn
        from slmkit.models.llama_server import ServerUnavailable

        turn = local_turn(messages, max_tokens, json_schema, tools)
        # As in-process: confidence is read off the greedy answer, whatever temperature was asked for.
        scored = scored and turn.grammar is None
        generator = self.generator
        try:
            completion, logprobs = generator.complete(turn, max_tokens, Sampling(stop=sampling.stop) if scored
                                                      else sampling, scored, self._timeout_s())
        except ServerUnavailable as exc:
            raise TierError(self.name, str(exc)) from None
        return Answer(replace(completion, model=self.config.model),
                      sequence_confidence(logprobs) if scored else None, self.name)

    def stream(self, messages: list[Message], max_tokens: int = 256, json_schema: dict | None = None,
               sampling: Sampling = Sampling(), tools: ToolUse | None = None) -> Iterator[Delta]:
        """Pieces as the child generates them; bad input raises here, before anything is sent. A child that
        cannot take the request raises TierError on the first piece (the router can still fall back)."""
        from slmkit.models.llama import local_turn

        turn = local_turn(messages, max_tokens, json_schema, tools)
        return self._translated(self.generator.stream_turn(turn, max_tokens, sampling, self._timeout_s()))

    def _translated(self, pieces: Iterator[Delta]) -> Iterator[Delta]:
        from slmkit.models.llama_server import ServerUnavailable

        try:
            yield from pieces
        except ServerUnavailable as exc:
            raise TierError(self.name, str(exc)) from None
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()


def make_tier(name: str, settings: RouterSettings, threads: int | None = None) -> LocalTier | RemoteTier | ServerTier:
    config = settings.tiers[name]
    if config.kind == "remote":
        return RemoteTier(name, config)
    if _runtime(name, settings) == "server":
        return ServerTier(name, config, settings, threads)
    return LocalTier(name, config, threads)


def _runtime(name: str, settings: RouterSettings) -> str:
    """A local tier's runtime as run here: server or inprocess."""
    runtime = settings.runtime_of(name)
    if runtime == "auto":  # the gateway's default: the server runtime once `make llama-server` has built it
        runtime = "server" if _server_built(settings.server_binary) else "inprocess"
    return runtime


def _runtime_base(settings: RouterSettings, threads: int) -> ServerRuntime:
    """The children's settings, without the tiers' own threads and slots (ServerUnavailable: no binary)."""
    from slmkit.config import get_settings
    from slmkit.models.llama_server import find_binary
    from slmkit.models.served import ServerRuntime

    return ServerRuntime(find_binary(settings.server_binary), get_settings().data_dir / "logs", threads,
                         settings.slots, settings.server_start_timeout_s, settings.server_nice, settings.server_poll)


def server_runtime(settings: RouterSettings, threads: int | None = None) -> ServerRuntime | None:
    """The server runtime these settings give the process (``models.llama.use_server_runtime`` takes it), with
    each server tier's threads and slots for its model, so a skill's generator is that tier's child; None when
    no local tier runs on a server here (or the binary is missing: the tiers say so when asked)."""
    from slmkit.models.llama_server import ServerUnavailable

    threads = threads or 2
    served: list[tuple[str, int, int]] = []
    inprocess: set[str] = set()
    for name, config in settings.tiers.items():
        if config.kind != "local":
            continue
        if _runtime(name, settings) == "server":
            served.append((config.model, config.threads or threads, config.slots or settings.slots))
        else:
            inprocess.add(config.model)
    if not served:
        return None
    try:
        base = _runtime_base(settings, threads)
    except ServerUnavailable as exc:
        log.warning("skills' generators run in-process: %s", exc)
        return None
    return replace(base, served=tuple(served), inprocess=frozenset(inprocess))


def _server_built(configured: str | None) -> bool:
    from slmkit.models.llama_server import ServerUnavailable, find_binary

    try:
        find_binary(configured)
    except ServerUnavailable as exc:
        log.warning("local tiers run in-process: %s", exc)
        return False
    return True
