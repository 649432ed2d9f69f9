"""Generators served by a supervised ``llama-server`` child, and the OpenAI-compatible protocol they speak.

One copy of the request and reply handling for everything that talks to a child: the router's ``ServerTier``
and, in the gateway, the skills' generators (``get_generator`` hands out a ``ServerGenerator`` once the gateway
called ``use_server_runtime``). A request is built from ``local_turn`` (the in-process runtime's plain turns
and GBNF grammar) and its sampling defaults, so a served answer is the in-process one. Chat-completion JSON and
SSE streams are read here for remote OpenAI-compatible endpoints too.

Errors: what the request asked for and a child refuses (a grammar its parser rejects, a prompt beyond the
context) is ``InvalidInputError``, as in-process. A child that is down, died under the request, timed out or
answered nonsense is ``ServerUnavailable`` with the cause: the router turns it into a ``TierError``, the gateway
answers 502.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from slmkit.errors import InvalidInputError
from slmkit.models.catalog import ModelSpec, get_spec
from slmkit.models.llama import (GRAMMAR_REJECTED, N_CTX, SAMPLER_DEFAULTS, Completion, Delta, LocalTurn, Message,
                                 Sampling, ToolCall, ToolCallPiece, ToolUse, assemble_calls, local_turn, schema_grammar)
from slmkit.models.llama_server import LlamaServer, ServerSpec, ServerUnavailable, get_server
from slmkit.models.store import resolve
from slmkit.models.tool_calls import ReplyReader

__all__ = ["LOCAL_TIMEOUT_S", "ServerGenerator", "ServerRuntime", "call_piece", "local_body", "parse_completion",
           "read_replies", "sampling_fields", "sse_deltas"]

# A busy child queues requests beyond its slots, and a 2-core machine may take minutes for a long answer (the
# in-process runtime waits as long); a hung child is caught by the supervisor's health check instead.
LOCAL_TIMEOUT_S = 600.0
_T = TypeVar("_T")


# -- the protocol: request bodies and replies --------------------------------------------------------------
def sampling_fields(sampling: Sampling) -> dict[str, Any]:
    """A request's sampling as llama.cpp takes it, in both local runtimes."""
    # llama.cpp seeds are 32-bit; OpenAI's are 64-bit and may be negative. No seed: 0, reproducible.
    return {"temperature": sampling.temperature, "top_p": sampling.top_p,
            "seed": 0 if sampling.seed is None else sampling.seed % 2**32, "stop": sampling.stop}


def local_body(model: str, turn: LocalTurn, max_tokens: int, sampling: Sampling, scored: bool = False,
               stream: bool = False) -> dict[str, Any]:
    """The chat request a child gets: the in-process runtime's turns, grammar and sampler settings."""
    body: dict[str, Any] = {"model": model, "messages": turn.messages, "max_tokens": max_tokens,
                            **SAMPLER_DEFAULTS, **sampling_fields(sampling)}
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


def parse_completion(response: Any) -> tuple[dict, dict, str, tuple[ToolCall, ...], dict]:
    """An OpenAI chat completion (an httpx response): (the JSON, its first choice, text, tool calls, usage).
    ``ValueError`` when it is not one."""
    try:
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"].get("content") or ""
        calls = tuple(ToolCall(str(c["id"]), str(c["function"]["name"]), str(c["function"]["arguments"]))
                      for c in choice["message"].get("tool_calls") or [])
        usage = data.get("usage") or {}
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        raise ValueError(f"{response.url} returned something that is not a chat completion: "
                         f"{response.text[:120]!r}") from None
    return data, choice, text, calls, usage


def call_piece(call: dict[str, Any]) -> ToolCallPiece:
    """One streamed OpenAI ``tool_calls`` entry: id and name come with a call's first piece only."""
    fn = call.get("function") or {}
    return ToolCallPiece(int(call.get("index", 0)), str(fn.get("arguments") or ""), call.get("id"), fn.get("name"))


def sse_deltas(response: Any, on_cut: Callable[[], None] = lambda: None) -> Iterator[Delta]:
    """The pieces of an OpenAI SSE stream (an httpx response opened with ``stream=True``), then one with the
    finish reason and token counts. A stream cut mid-way ends with finish reason "error" (after ``on_cut``)."""
    import httpx

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
                chunk = json.loads(payload)
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
                    yield Delta("", tool_call=call_piece(call))
                finish = choice.get("finish_reason") or finish
    except httpx.HTTPError:
        finish = "error"  # the upstream went away mid-stream
        on_cut()
    yield Delta("", finish_reason=finish or "error", prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def read_replies(pieces: Iterator[Delta], reader: ReplyReader) -> Iterator[Delta]:
    """A child's text pieces read as the in-process runtime reads its tokens: text, or a tool call."""
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


def _check_status(model: str, response: Any) -> None:
    """A child's error answer as slmkit's: the request's fault (400) or the child's."""
    if response.status_code < 400:
        return
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        error = {"message": response.text[:200]}
    message = str(error.get("message", ""))[:300]
    if response.status_code == 400:  # what we sent is what the request asked for: the request's fault
        if "grammar" in message.lower():
            raise InvalidInputError(GRAMMAR_REJECTED)
        if error.get("type") == "exceed_context_size_error":
            raise InvalidInputError(f"prompt ({error.get('n_prompt_tokens')} tokens) exceeds the context of "
                                    f"{error.get('n_ctx')}")
        raise InvalidInputError(message or "the generator refused the request")
    raise ServerUnavailable(f"the llama-server for {model} answered HTTP {response.status_code}: {message}")


# -- the generator -------------------------------------------------------------------------------------------
class ServerGenerator:
    """The in-process generator's calls (``chat``, ``stream``, ``chat_scored``, ``count_tokens``,
    ``check_json_schema``), answered by a supervised llama-server child instead of a model in this process.

    Same turns, grammar and sampler settings as in-process, so greedy answers match (see the server runtime's
    tests). One pooled HTTP client per child; a stream gets its own connection, whose closing stops the slot."""

    def __init__(self, spec: ModelSpec, server: LlamaServer, n_ctx: int = N_CTX) -> None:
        self.spec = spec
        self.server = server
        self.n_ctx = n_ctx
        self.threads = server.spec.threads
        self._client: Any = None
        self._client_lock = threading.Lock()

    @property
    def ready(self) -> bool:
        return self.server.pid is not None

    def warm_up(self) -> ServerGenerator:
        self.server.endpoint()  # starts the child, or waits for it
        return self

    def check_json_schema(self, schema: dict) -> str:
        """The grammar for ``schema``. The child's own parser checks it on the first request that uses it and
        refuses one it rejects (400: ``InvalidInputError``, the in-process message) without generating."""
        return schema_grammar(schema)

    def count_tokens(self, text: str) -> int:
        """Tokens of ``text`` as the model reads it (no BOS, special tokens parsed): the child's /tokenize."""
        response = self._call("/tokenize", {"content": text}, LOCAL_TIMEOUT_S, root=True)
        try:
            return len(response.json()["tokens"])
        except (ValueError, KeyError, TypeError):
            raise ServerUnavailable(f"the llama-server for {self.spec.name} answered /tokenize with "
                                    f"{response.text[:120]!r}") from None

    def chat(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0,
             top_p: float | None = None, seed: int | None = 0, stop: tuple[str, ...] = (),
             json_schema: dict | None = None, tools: ToolUse | None = None) -> Completion:
        """One completion, as ``LlamaGenerator.chat``."""
        turn = local_turn(messages, max_tokens, json_schema, tools)
        completion, _ = self.complete(turn, max_tokens, Sampling(temperature, top_p, seed, tuple(stop)))
        return completion

    def chat_scored(self, messages: list[Message], *, max_tokens: int = 256,
                    stop: tuple[str, ...] = ()) -> tuple[Completion, list[float]]:
        """Greedy completion with the log-probability of every token it chose, as ``LlamaGenerator.chat_scored``."""
        return self.complete(local_turn(messages, max_tokens), max_tokens, Sampling(stop=tuple(stop)), scored=True)

    def complete(self, turn: LocalTurn, max_tokens: int, sampling: Sampling, scored: bool = False,
                 timeout_s: float = LOCAL_TIMEOUT_S) -> tuple[Completion, list[float]]:
        """One chat request for a prepared turn: the completion, and its tokens' log-probabilities if ``scored``."""
        body = local_body(self.spec.name, turn, max_tokens, sampling, scored)
        response = self._call("/chat/completions", body, timeout_s)
        try:
            _, choice, text, _, usage = parse_completion(response)
        except ValueError as exc:
            raise ServerUnavailable(str(exc)) from None
        reader = ReplyReader(turn.tools)
        pieces = [*reader.feed(text), *reader.finish()]
        logprobs = [float(t.get("logprob", 0.0)) for t in (choice.get("logprobs") or {}).get("content") or []]
        completion = Completion("".join(p for p in pieces if isinstance(p, str)),
                                int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)),
                                reader.finish_reason(choice.get("finish_reason") or "stop"), self.spec.name,
                                assemble_calls([p for p in pieces if isinstance(p, ToolCallPiece)]))
        return completion, logprobs

    def stream(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0,
               top_p: float | None = None, seed: int | None = 0, stop: tuple[str, ...] = (),
               json_schema: dict | None = None, tools: ToolUse | None = None) -> Iterator[Delta]:
        """Pieces as the child generates them, as ``LlamaGenerator.stream``; bad input raises here."""
        turn = local_turn(messages, max_tokens, json_schema, tools)
        return self.stream_turn(turn, max_tokens, Sampling(temperature, top_p, seed, tuple(stop)))

    def stream_turn(self, turn: LocalTurn, max_tokens: int, sampling: Sampling,
                    timeout_s: float = LOCAL_TIMEOUT_S) -> Iterator[Delta]:
        """The pieces of a prepared turn. The request goes out on the first ``next``: a child that cannot take it
        raises there; one that dies later ends the stream with finish reason "error". Closing stops the slot."""
        body = local_body(self.spec.name, turn, max_tokens, sampling, stream=True)
        return read_replies(self._stream(body, timeout_s), ReplyReader(turn.tools))

    def busy_slots(self) -> int:
        """How many of the child's slots are generating now (its /slots page)."""
        def get(client: Any, url: str, headers: dict[str, str]) -> Any:
            return client.get(url, headers=headers, timeout=10.0)

        response = self._guarded("/slots", get, root=True)
        _check_status(self.spec.name, response)
        return sum(1 for slot in response.json() if slot.get("is_processing"))

    # -- HTTP ------------------------------------------------------------------------------------------------
    def _http(self) -> Any:
        import httpx

        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=LOCAL_TIMEOUT_S,
                                            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
            return self._client

    def _guarded(self, path: str, send: Callable[[Any, str, dict[str, str]], _T], root: bool = False,
                 timeout_s: float = LOCAL_TIMEOUT_S, client: Any = None) -> _T:
        """``send(client, url, headers)`` against the running child; a connection that breaks is explained by
        the supervisor (did the child die?)."""
        import httpx

        endpoint = self.server.endpoint()
        url = (endpoint.base_url.removesuffix("/v1") if root else endpoint.base_url) + path
        headers = {"Content-Type": "application/json", "Authorization": f"Bearer {endpoint.api_key}"}
        try:
            return send(client or self._http(), url, headers)
        except httpx.TimeoutException:
            raise ServerUnavailable(f"no answer from the llama-server for {self.spec.name} within "
                                    f"{timeout_s:g} s") from None
        except httpx.TransportError as exc:
            raise ServerUnavailable(self.server.lost(endpoint)
                                    or f"{url} failed ({type(exc).__name__}: {exc})") from None

    def _call(self, path: str, body: dict[str, Any], timeout_s: float, root: bool = False) -> Any:
        def post(client: Any, url: str, headers: dict[str, str]) -> Any:
            return client.post(url, json=body, headers=headers, timeout=timeout_s)

        response = self._guarded(path, post, root, timeout_s)
        _check_status(self.spec.name, response)
        return response

    def _stream(self, body: dict[str, Any], timeout_s: float) -> Iterator[Delta]:
        import httpx

        client = httpx.Client(timeout=timeout_s)

        def open_stream(_client: Any, url: str, headers: dict[str, str]) -> Any:
            response = client.send(client.build_request("POST", url, json=body, headers=headers), stream=True)
            if response.status_code >= 400:
                response.read()
                response.close()
                _check_status(self.spec.name, response)
            return response

        try:
            response = self._guarded("/chat/completions", open_stream, timeout_s=timeout_s, client=client)
        except BaseException:
            client.close()
            raise
        try:
            yield from sse_deltas(response)
        finally:
            response.close()
            client.close()


# -- which child serves which model ------------------------------------------------------------------------
@dataclass(frozen=True)
class ServerRuntime:
    """How this process runs local generators as llama-server children: the router builds one from its
    settings (``router.tiers.server_runtime``), its server tiers and, in the gateway, the skills' generators
    take their children from it, so one model is one child whoever asks (``get_server`` keeps one per spec)."""

    binary: Path
    log_dir: Path
    threads: int = 2  # for a model no server tier names
    slots: int = 4
    start_timeout_s: float = 120.0
    nice: int = 0
    poll: int = 50
    served: tuple[tuple[str, int, int], ...] = ()  # (model, threads, slots) of the router's server tiers
    inprocess: frozenset[str] = frozenset()  # models the router's tiers run in this process: skills share those

    def serves(self, model: str) -> bool:
        """Whether a skill's generator for ``model`` should be served (not a model a tier keeps in-process)."""
        name = get_spec(model).name
        return name not in self.inprocess or any(m == name for m, _, _ in self.served)

    def spec(self, model: str, threads: int | None = None, slots: int | None = None) -> ServerSpec:
        """The child for ``model``: with the settings of the server tier that names it, unless told otherwise."""
        catalog = get_spec(model)
        tier_threads, tier_slots = next(((t, s) for m, t, s in self.served if m == catalog.name),
                                        (self.threads, self.slots))
        return ServerSpec(catalog.name, resolve(catalog, "model"), self.binary, threads or tier_threads,
                          slots or tier_slots, N_CTX, self.start_timeout_s, self.nice, self.poll)

    def generator(self, model: str, threads: int | None = None, slots: int | None = None) -> ServerGenerator:
        """The process-wide generator for that child: the tier and the skills share it (and its HTTP pool)."""
        spec = self.spec(model, threads, slots)
        server = get_server(spec, self.log_dir)
        with _generators_lock:
            generator = _generators.get(spec)
            if generator is None or generator.server is not server:  # first use, or the old child was stopped
                generator = _generators[spec] = ServerGenerator(get_spec(model), server)
            return generator


_generators: dict[ServerSpec, ServerGenerator] = {}
_generators_lock = threading.Lock()
