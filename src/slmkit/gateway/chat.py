"""``POST /v1/chat/completions``: an OpenAI chat request in, the router's answer out, whole or as SSE.

The request becomes messages, tools, sampling and a pin (which tier, or which strategy); the router
decides, guards, answers and falls back (``Router.run`` / ``Router.stream``); this module only shapes
what comes back: a ``chat.completion``, or ``chat.completion.chunk`` events ending in a usage chunk
that carries the routing record. A semantic route to a skill is dispatched here, in one place.

A streamed answer's source is closed when the response ends for any reason, the client leaving
included: closing it stops the tier's generation, so an abandoned stream frees the model at once.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
from fastapi.responses import JSONResponse, StreamingResponse

from slmkit.config.router import STRATEGIES, Strategy
from slmkit.errors import SlmkitError
from slmkit.gateway import schemas as s
from slmkit.gateway.errors import ApiError, error_body
from slmkit.gateway.store import ApiKey
from slmkit.models.llama import Completion, Delta, Message, Sampling
from slmkit.models.tool_calls import Tool, ToolUse
from slmkit.router.decision import Decision

if TYPE_CHECKING:
    from slmkit.config import Settings
    from slmkit.router.router import Router

log = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"


@dataclass(frozen=True)
class ChatHost:
    """What the chat endpoint uses of the gateway. The app builds one per request (it imports this
    module; this module does not import the app)."""

    settings: Settings
    router: Router
    account: Callable[..., None]  # the app's accounting of a request: metrics, request log, key budget
    dispatch: Callable[[str, str], object]  # a semantic route's target (a skill) run on a text


@dataclass(frozen=True)
class ChatCall:
    """What the router needs from one chat request."""

    messages: list[Message]
    json_schema: dict | None
    tools: ToolUse | None
    sampling: Sampling
    tier: str | None  # pinned by the model name
    strategy: Strategy | None  # or chosen by it ("auto:cascade")
    max_tokens: int


def complete(host: ChatHost, body: s.ChatRequest, key: ApiKey | None) -> JSONResponse | StreamingResponse:
    started = time.perf_counter()
    call = parse(host, body)
    decision, answer = _route(host, call, body.stream)
    if isinstance(answer, Completion):
        if body.stream:
            return _streamed(host, body, key, call, decision, answer.deltas(), started)
        return _whole(host, body, key, call, decision, answer, started)
    return _streamed(host, body, key, call, decision, answer, started)


# -- the request -----------------------------------------------------------------------------------
def parse(host: ChatHost, body: s.ChatRequest) -> ChatCall:
    _refuse_unsupported(body)
    tier, strategy = _pin(host, body.model)
    stop = (body.stop,) if isinstance(body.stop, str) else tuple(body.stop or ())
    sampling = Sampling(temperature=body.temperature or 0.0, top_p=body.top_p, seed=body.seed, stop=stop)
    max_tokens = body.max_completion_tokens or body.max_tokens or host.settings.gateway.max_tokens_default
    return ChatCall(_messages(body), _schema(body), _tools(body), sampling, tier, strategy, max_tokens)


def _refuse_unsupported(body: s.ChatRequest) -> None:
    """Fields that would change the answer and cannot be honoured: refused by name, never ignored."""
    if body.n is not None and body.n != 1:
        raise ApiError(400, f"n={body.n} is not supported: this gateway returns one choice per request; "
                            "send n=1 or leave it out", param="n", code="unsupported_value")
    if body.logprobs:
        raise ApiError(400, "logprobs is not supported by this gateway; send logprobs=false or leave it out",
                       param="logprobs", code="unsupported_value")
    if body.top_logprobs:
        raise ApiError(400, "top_logprobs is not supported by this gateway (no log-probabilities are returned)",
                       param="top_logprobs", code="unsupported_value")


def _messages(body: s.ChatRequest) -> list[Message]:
    out: list[Message] = []
    for i, m in enumerate(body.messages):
        if isinstance(m.content, list):
            for part in m.content:
                if part.type in ("image_url", "input_image", "image"):
                    raise ApiError(400, "image content is not supported by this gateway's models",
                                   param=f"messages[{i}].content", code="unsupported_content")
                if part.type != "text":
                    raise ApiError(400, f"content parts of type {part.type!r} are not supported; send text",
                                   param=f"messages[{i}].content", code="unsupported_content")
        if m.content is None and not (m.role == "assistant" and m.tool_calls):
            raise ApiError(400, f"messages[{i}] has no content (only an assistant message with tool_calls may "
                                "leave it out)", param=f"messages[{i}].content")
        if m.tool_calls and m.role != "assistant":
            raise ApiError(400, f"messages[{i}]: only assistant messages carry tool_calls",
                           param=f"messages[{i}].tool_calls")
        message: Message = {"role": "system" if m.role == "developer" else m.role,
                            "content": None if m.content is None else m.text()}
        if m.tool_calls:
            message["tool_calls"] = [{"id": c.id, "type": "function",
                                      "function": {"name": c.function.name, "arguments": c.function.arguments}}
                                     for c in m.tool_calls]
        if m.role == "tool":
            message["tool_call_id"] = m.tool_call_id or ""
        out.append(message)
    if not (out[-1]["content"] or "").strip():
        raise ApiError(400, "the last message has no content", param="messages")
    return out


def _schema(body: s.ChatRequest) -> dict | None:
    fmt = body.response_format
    if fmt is None or fmt.type == "text":
        return None
    if fmt.type == "json_object":
        return {"type": "object"}
    if fmt.json_schema is None:
        raise ApiError(400, "response_format json_schema needs json_schema.schema", param="response_format")
    return fmt.json_schema.schema_


def _tools(body: s.ChatRequest) -> ToolUse | None:
    choice = body.tool_choice
    if not body.tools:
        if isinstance(choice, s.NamedToolChoice) or choice == "required":
            raise ApiError(400, "tool_choice asks for a tool call but the request has no tools", param="tool_choice")
        return None
    tools = tuple(Tool(t.function.name, t.function.description or "",
                       t.function.parameters or {"type": "object", "properties": {}}, t.function.strict)
                  for t in body.tools)
    names = [t.name for t in tools]
    if len(set(names)) != len(names):
        raise ApiError(400, "tools holds two functions of the same name", param="tools")
    if isinstance(choice, s.NamedToolChoice):
        if choice.function.name not in names:
            raise ApiError(400, f"tool_choice names {choice.function.name!r}, which is not in tools",
                           param="tool_choice")
        return ToolUse(tools, "required", force=choice.function.name)
    return ToolUse(tools, choice or "auto")


def _pin(host: ChatHost, model: str) -> tuple[str | None, Strategy | None]:
    """(tier, strategy) for the requested model name; 404-style error for an unknown one."""
    tiers = host.settings.router.tiers
    if model in ("auto", ""):
        return None, None
    if model.startswith("auto:"):
        strategy = model.split(":", 1)[1]
        for known in STRATEGIES:
            if strategy == known:
                return None, known
        raise ApiError(400, f"unknown routing strategy {strategy!r}", param="model", code="model_not_found")
    if model in tiers:
        return model, None
    for name, tier in tiers.items():
        if tier.model == model:
            return name, None
    known_models = ", ".join(["auto", *tiers, *(t.model for t in tiers.values())])
    raise ApiError(404, f"model {model!r} does not exist here; use one of: {known_models}", "invalid_request_error",
                   "model_not_found", "model")


# -- routing ---------------------------------------------------------------------------------------
def _route(host: ChatHost, call: ChatCall, stream: bool) -> tuple[Decision, Completion | Iterator[Delta]]:
    """The router's decision and its answer: whole, or pieces already started (so headers can say which
    tier answers, fallbacks included). A route to a skill is dispatched here, streamed or not."""
    from slmkit.router.router import PolicyBlocked

    router = host.router
    answer: Completion | Iterator[Delta] | None
    try:
        if stream:
            decision, answer = router.stream(call.messages, tier=call.tier, strategy=call.strategy,
                                             max_tokens=call.max_tokens, json_schema=call.json_schema,
                                             sampling=call.sampling, tools=call.tools)
        else:
            routed = router.run(call.messages, tier=call.tier, strategy=call.strategy, max_tokens=call.max_tokens,
                                json_schema=call.json_schema, sampling=call.sampling, tools=call.tools)
            decision, answer = routed.decision, routed.answer.completion if routed.answer is not None else None
    except PolicyBlocked as exc:
        raise ApiError(400, str(exc), "invalid_request_error", "content_policy") from None
    if answer is None:  # a semantic route to a skill: run on the last message, its JSON result is the answer
        result = host.dispatch(decision.tier, str(call.messages[-1]["content"]))
        answer = Completion(json.dumps(result, ensure_ascii=False), 0, 0, "stop", decision.tier)
    return decision, answer


# -- the response ----------------------------------------------------------------------------------
def _info(d: Decision) -> s.RoutingInfo:
    return s.RoutingInfo(tier=d.tier, strategy=d.strategy, reason=d.reason, confidence=d.confidence,
                         escalated=d.escalated, fallback=d.fallback, cost_usd=d.cost, saved_usd=d.saving,
                         latency_ms=d.latency_ms, guard=d.guard, task=d.task, student=d.student)


def _headers(d: Decision, costs: bool = True) -> dict[str, str]:
    """Routing headers. A stream's cost is only known at its end (in the final usage chunk), so its
    headers leave the cost out rather than state a number that is not the answer's."""
    headers = {"x-slmkit-tier": d.tier, "x-slmkit-strategy": d.strategy,
               "x-slmkit-reason": d.reason[:200].replace("\n", " ")}
    if costs:
        headers |= {"x-slmkit-cost-usd": f"{d.cost:.8f}", "x-slmkit-saved-usd": f"{d.saving:.8f}"}
    if d.task:
        headers["x-slmkit-task"] = d.task
    if d.fallback:
        headers["x-slmkit-fallback"] = d.fallback[:200].replace("\n", " ")
    return headers


def _tool_calls(completion: Completion) -> list[s.ToolCallItem] | None:
    return [s.ToolCallItem(id=c.id, function=s.FunctionCall(name=c.name, arguments=c.arguments))
            for c in completion.tool_calls] or None


def _whole(host: ChatHost, body: s.ChatRequest, key: ApiKey | None, call: ChatCall, d: Decision,
           c: Completion, started: float) -> JSONResponse:
    info = _info(d)
    host.account(ENDPOINT, key, started, model=body.model, tier=d.tier, strategy=d.strategy,
             tokens=(c.prompt_tokens, c.completion_tokens), decision=d, content=call.messages[-1]["content"])
    message = s.AssistantMessage(content=c.text if c.text or not c.tool_calls else None, tool_calls=_tool_calls(c))
    completion = s.ChatCompletion(
        id="chatcmpl-" + secrets.token_hex(12), created=int(time.time()), model=body.model,
        choices=[s.Choice(index=0, message=message, finish_reason=c.finish_reason)],
        usage=s.Usage(prompt_tokens=c.prompt_tokens, completion_tokens=c.completion_tokens,
                      total_tokens=c.prompt_tokens + c.completion_tokens),
        slmkit=info)
    return JSONResponse(completion.model_dump(), headers=_headers(d))


def _streamed(host: ChatHost, body: s.ChatRequest, key: ApiKey | None, call: ChatCall, d: Decision,
              pieces: Iterator[Delta], started: float) -> StreamingResponse:
    events = _events(host, body, key, call, d, pieces, started)
    return ClosingStream(events, media_type="text/event-stream", headers=_headers(d, costs=False))


def _events(host: ChatHost, body: s.ChatRequest, key: ApiKey | None, call: ChatCall, d: Decision,
            pieces: Iterator[Delta], started: float) -> Generator[bytes, None, None]:
    head = {"id": "chatcmpl-" + secrets.token_hex(12), "object": "chat.completion.chunk",
            "created": int(time.time()), "model": body.model}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        return _sse({**head, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    prompt_tokens = completion_tokens = sent = 0
    status, error, ended = 200, None, False
    try:
        yield chunk({"role": "assistant", "content": ""})
        for delta in pieces:
            if delta.finish_reason is not None:
                prompt_tokens, completion_tokens = delta.prompt_tokens, delta.completion_tokens
                if delta.finish_reason == "error":
                    status, error = 502, f"tier {d.tier} stopped in the middle of its answer"
                    yield _sse(error_body(error, "upstream_error", "stream_interrupted"))
                    break
                yield chunk({}, delta.finish_reason)
            elif delta.tool_call is not None:
                piece = delta.tool_call
                entry: dict[str, Any] = {"index": piece.index, "function": {"arguments": piece.arguments}}
                if piece.id is not None:
                    entry |= {"id": piece.id, "type": "function"}
                    entry["function"]["name"] = piece.name
                yield chunk({"tool_calls": [entry]})
            elif delta.text:
                sent += 1
                yield chunk({"content": delta.text})
        if status == 200:  # the decision is final now: cost, large-tier cost and latency included
            usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                     "total_tokens": prompt_tokens + completion_tokens}
            yield _sse({**head, "choices": [], "usage": usage, "slmkit": _info(d).model_dump()})
        ended = True
    except SlmkitError as exc:
        status, error, ended = 502, str(exc), True
        yield _sse(error_body(error, "upstream_error", "stream_interrupted"))
    except Exception as exc:  # noqa: BLE001 - the status line is gone: the error can only go in the stream
        log.error("chat stream failed", exc_info=exc)
        status, error, ended = 500, f"internal error ({type(exc).__name__})", True
        yield _sse(error_body(error, "server_error"))
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # stops the tier's generation when the client went away mid-answer
        if not ended:
            status, error = 499, "the client disconnected"
            completion_tokens = completion_tokens or sent  # what was generated before it left, about
        # Before [DONE]: a client that stops reading at an error closes the stream at the next yield.
        host.account(ENDPOINT, key, started, model=body.model, tier=d.tier, strategy=d.strategy,
                 tokens=(prompt_tokens, completion_tokens), decision=d, content=call.messages[-1]["content"],
                 status=status, error=error)
    yield b"data: [DONE]\n\n"


def _sse(payload: dict) -> bytes:
    return b"data: " + json.dumps(payload, ensure_ascii=False).encode("utf-8") + b"\n\n"


class ClosingStream(StreamingResponse):
    """A StreamingResponse over a sync generator that is always closed when the response ends.

    Starlette pulls a sync iterator in the threadpool and, when the client disconnects, cancels the
    pull and drops the iterator without closing it: the generator (and whatever model it holds) then
    waits for the garbage collector. Here each piece is pulled in a thread, and the generator is closed,
    shielded from the cancellation, once the response is over: normally, on disconnect, or on error."""

    def __init__(self, source: Generator[bytes, None, None], **kwargs: Any) -> None:
        # The first piece is taken now: a generator closed before it started skips its cleanup, and a
        # client can leave before the first pull.
        first = next(source)
        self._source = source
        super().__init__(_pull(first, source), **kwargs)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            with anyio.CancelScope(shield=True):
                # In a thread: closing runs the generator's cleanup (accounting, the tier's own close).
                await anyio.to_thread.run_sync(self._source.close)


async def _pull(first: bytes, source: Generator[bytes, None, None]) -> AsyncIterator[bytes]:
    yield first
    while True:
        # Not abandoned on cancellation: the pull in flight finishes first, so the generator is never
        # closed while it runs (which would raise "generator already executing").
        piece = await anyio.to_thread.run_sync(next, source, None)
        if piece is None:
            return
        yield piece
