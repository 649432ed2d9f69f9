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

from slmkit.errors import InvalidInputError, SlmkitError
from slmkit.models.llama import Completion, Delta, Message, Sampling, ToolCall, ToolCallPiece, ToolUse
from slmkit.config.router import RouterSettings, TierConfig


if TYPE_CHECKING:
    from slmkit.models.llama import LlamaGenerator, LocalTurn
    from slmkit.models.llama_server import LlamaServer
    from slmkit.models.tool_calls import ReplyReader


log = logging.getLogger(__name__)
_LOCAL_TIMEOUT_S = 600.0


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


class _ChatClient:
    """The OpenAI-compatible client both kinds of served tier use: one request, or one SSE stream.

    Not a RemoteTier itself: a local model in a child process never leaves the machine, so the router's
    guard (which acts on RemoteTier) leaves its messages alone."""

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
                data = response.json()
                choice = data["choices"][0]
                text = choice["message"].get("content") or ""
                calls = tuple(ToolCall(str(c["id"]), str(c["function"]["name"]), str(c["function"]["arguments"]))
                              for c in choice["message"].get("tool_calls") or [])
                usage = data.get("usage") or {}
            except (ValueError, KeyError, IndexError, TypeError, AttributeError):
                raise TierError(self.name, f"{url} returned something that is not a chat completion: "
                                           f"{response.text[:120]!r}") from None
            return data, choice, text, calls, usage

        return self._guarded(call)

    def _stream_body(self, body: dict[str, Any]) -> Iterator[Delta]:
        import json as _json

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
            self._stream_failed()
        finally:
            response.close()
            client.close()
        yield Delta("", finish_reason=finish or "error", prompt_tokens=prompt_tokens,
                    completion_tokens=completion_tokens)


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


def _call_piece(call: dict[str, Any]) -> ToolCallPiece:
    """One streamed OpenAI ``tool_calls`` entry: id and name come with a call's first piece only."""
    fn = call.get("function") or {}
    return ToolCallPiece(int(call.get("index", 0)), str(fn.get("arguments") or ""), call.get("id"), fn.get("name"))


class ServerTier(_ChatClient):
    """A local tier whose model runs in a supervised ``llama-server`` child (models/llama_server.py).

    The remote tier's client path against a loopback endpoint, with the in-process runtime's turns,
    grammars and tool-call reading (``local_turn``), so both local runtimes constrain and read replies
    alike. A child that dies under a request fails that request with TierError saying so (the gateway
    answers 502; the supervisor restarts the child and the next request waits for it): a generation
    half done is not repeated, since a retry would double a slow request on a busy machine."""

    def __init__(self, name: str, config: TierConfig, settings: RouterSettings, threads: int | None = None) -> None:
        self.name = name
        self.config = config
        self.threads = config.threads or threads or 2
        self.slots = config.slots or settings.slots
        self.url = "(llama-server not started)"
        self._settings = settings
        self._server: LlamaServer | None = None
        self._client: Any = None

    @property
    def server(self) -> LlamaServer:
        if self._server is None:
            from slmkit.config import get_settings
            from slmkit.models.catalog import get_spec
            from slmkit.models.llama import N_CTX
            from slmkit.models.llama_server import ServerSpec, find_binary, get_server
            from slmkit.models.store import resolve

            try:
                spec = get_spec(self.config.model)
                wanted = ServerSpec(spec.name, resolve(spec, "model"), find_binary(self._settings.server_binary),
                                    self.threads, self.slots, N_CTX, self._settings.server_start_timeout_s,
                                    self._settings.server_nice, self._settings.server_poll)
            except SlmkitError as exc:  # unknown or missing model, no binary: the router falls back and says why
                raise TierError(self.name, str(exc)) from None
            self._server = get_server(wanted, get_settings().data_dir / "logs")
        return self._server

    def warm_up(self) -> ServerTier:
        from slmkit.models.llama_server import ServerUnavailable

        try:
            self.server.endpoint()
        except ServerUnavailable as exc:
            raise TierError(self.name, str(exc)) from None
        return self

    def busy_slots(self) -> int:
        """How many of the child's slots are generating now (its /slots page): 0 once abandoned streams stopped."""
        import httpx

        endpoint = self.server.endpoint()
        response = httpx.get(endpoint.base_url.removesuffix("/v1") + "/slots", timeout=10.0,
                             headers={"Authorization": f"Bearer {endpoint.api_key}"})
        response.raise_for_status()
        return sum(1 for slot in response.json() if slot.get("is_processing"))

    def _guarded(self, call):  # noqa: ANN001, ANN202
        """One request to the child; a connection that breaks is explained by the supervisor (did it die?)."""
        import httpx

        from slmkit.models.llama_server import ServerUnavailable

        server = self.server
        try:
            endpoint = server.endpoint()
        except ServerUnavailable as exc:
            raise TierError(self.name, str(exc)) from None
        self.url = endpoint.base_url + "/chat/completions"
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {endpoint.api_key}"}
        try:
            return call(httpx, self.url, headers)
        except httpx.TimeoutException:
            raise TierError(self.name, f"no answer from the llama-server for {self.config.model} within "
                                       f"{self._timeout_s():g} s") from None
        except httpx.TransportError as exc:
            raise TierError(self.name, server.lost(endpoint)
                            or f"{self.url} failed ({type(exc).__name__}: {exc})") from None

    def _check_status(self, response) -> None:  # noqa: ANN001
        from slmkit.models.llama import GRAMMAR_REJECTED

        if response.status_code < 400:
            return
        try:
            error = response.json().get("error") or {}
        except ValueError:
            error = {"message": response.text[:200]}
        message = str(error.get("message", ""))[:300]
        if response.status_code == 400:  # what we sent is what the request asked for: the request's fault
            if "grammar" in message.lower():
                raise InvalidInputError(GRAMMAR_REJECTED)
            if error.get("type") == "exceed_context_size_error":
                raise InvalidInputError(f"prompt ({error.get('n_prompt_tokens')} tokens) exceeds the context of "
                                        f"{error.get('n_ctx')}")
            raise InvalidInputError(message or "the generator refused the request")
        raise TierError(self.name, f"the llama-server for {self.config.model} answered HTTP "
                                   f"{response.status_code}: {message}")

    def _stream_failed(self) -> None:
        pass  # no breaker: the supervisor restarts a dead child

    def _timeout_s(self) -> float:
        # A busy child queues requests beyond its slots, and a 2-core machine may take minutes for a long
        # answer (the in-process runtime waits as long); a hung child is caught by the health check instead.
        return max(self.config.timeout_s, _LOCAL_TIMEOUT_S)

    def _local_body(self, turn: LocalTurn, max_tokens: int, sampling: Sampling, scored: bool = False,
                    stream: bool = False) -> dict[str, Any]:
        from slmkit.models.llama import SAMPLER_DEFAULTS

        body: dict[str, Any] = {"model": self.config.model, "messages": turn.messages, "max_tokens": max_tokens,
                                **SAMPLER_DEFAULTS, **_local_sampling(sampling)}
        body["stop"] = list(body["stop"])
        if sampling.top_p is None:
            body["top_p"] = SAMPLER_DEFAULTS["top_p"]
        if turn.grammar is not None:
            body["grammar"] = turn.grammar  # the GBNF the in-process runtime would use, not the server's own
        if scored:
            body["logprobs"], body["top_logprobs"] = True, 1
        if stream:
            body["stream"], body["stream_options"] = True, {"include_usage": True}
        return body

    def answer(self, messages: list[Message], max_tokens: int = 256, scored: bool = False,
               json_schema: dict | None = None, sampling: Sampling = Sampling(),
               tools: ToolUse | None = None) -> Answer:
        from slmkit.models.llama import assemble_calls, local_turn
        from slmkit.models.tool_calls import ReplyReader

        turn = local_turn(messages, max_tokens, json_schema, tools)
        # As in-process: confidence is read off the greedy answer, whatever temperature was asked for.
        scored = scored and turn.grammar is None
        body = self._local_body(turn, max_tokens, Sampling(stop=sampling.stop) if scored else sampling, scored)
        data, choice, text, _, usage = self._post(body)
        reader = ReplyReader(turn.tools)
        pieces = [*reader.feed(text), *reader.finish()]
        confidence = None
        if scored:
            confidence = sequence_confidence([float(t.get("logprob", 0.0))
                                              for t in (choice.get("logprobs") or {}).get("content") or []])
        completion = Completion("".join(p for p in pieces if isinstance(p, str)),
                                int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                                reader.finish_reason(choice.get("finish_reason") or "stop"), self.config.model,
                                assemble_calls([p for p in pieces if isinstance(p, ToolCallPiece)]))
        return Answer(completion, confidence, self.name)

    def stream(self, messages: list[Message], max_tokens: int = 256, json_schema: dict | None = None,
               sampling: Sampling = Sampling(), tools: ToolUse | None = None) -> Iterator[Delta]:
        """Pieces as the child generates them; bad input raises here, before anything is sent."""
        from slmkit.models.llama import local_turn
        from slmkit.models.tool_calls import ReplyReader

        turn = local_turn(messages, max_tokens, json_schema, tools)
        body = self._local_body(turn, max_tokens, sampling, stream=True)
        return _read_replies(self._stream_body(body), ReplyReader(turn.tools))


def _read_replies(pieces: Iterator[Delta], reader: ReplyReader) -> Iterator[Delta]:
    """The child's text pieces read as the in-process runtime reads its tokens: text, or a tool call."""
    def out(parts: list[str | ToolCallPiece]) -> Iterator[Delta]:
        for part in parts:
            yield Delta(part) if isinstance(part, str) else Delta("", tool_call=part)

    try:
        for delta in pieces:
            if delta.finish_reason is None:
                yield from out(reader.feed(delta.text))
                continue
            yield from out(reader.finish())
            yield replace(delta, finish_reason=reader.finish_reason(delta.finish_reason))
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()


def make_tier(name: str, settings: RouterSettings, threads: int | None = None) -> LocalTier | RemoteTier | ServerTier:
    config = settings.tiers[name]
    if config.kind == "remote":
        return RemoteTier(name, config)
    runtime = settings.runtime_of(name)
    if runtime == "auto":  # the gateway's default: the server runtime once `make llama-server` has built it
        runtime = "server" if _server_built(settings.server_binary) else "inprocess"
    if runtime == "server":
        return ServerTier(name, config, settings, threads)
    return LocalTier(name, config, threads)


def _server_built(configured: str | None) -> bool:
    from slmkit.models.llama_server import ServerUnavailable, find_binary

    try:
        find_binary(configured)
    except ServerUnavailable as exc:
        log.warning("local tiers run in-process: %s", exc)
        return False
    return True
