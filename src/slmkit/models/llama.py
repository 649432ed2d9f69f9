"""llama.cpp generator runtime: chat, streaming, JSON-schema constrained output, tool calls, token counts.

llama_cpp is imported on ``warm_up``. A llama.cpp context is not thread-safe, so generation on one
generator is serialised with a lock, and only a worker thread ever holds that lock while tokens are
produced: a caller that stops reading (a client that went away) cannot keep the model locked.

``get_generator`` hands out these in-process generators, except in the gateway, which chooses the server
runtime at start-up (``use_server_runtime``): there a generator is a ``ServerGenerator`` (models/served.py)
talking to the llama-server child of the router's tier for that model.
"""

from __future__ import annotations

import atexit
import codecs
import json
import queue
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError
from slmkit.models.catalog import ModelSpec, get_spec
from slmkit.models.store import resolve
from slmkit.models.tool_calls import Message, ReplyReader, ToolCall, ToolCallPiece, ToolUse
from slmkit.models.tool_calls import call_schema, plain_history, tools_grammar, with_tools

__all__ = ["GRAMMAR_REJECTED", "N_CTX", "SAMPLER_DEFAULTS", "Completion", "Delta", "Generator", "LlamaGenerator",
           "LocalTurn", "Message", "Sampling", "ServedGenerators", "TokenStream", "ToolCall", "ToolCallPiece", "ToolUse",
           "assemble_calls", "check_messages", "get_generator", "inprocess_generator", "local_turn", "schema_grammar",
           "use_server_runtime"]

GRAMMAR_REJECTED = ("llama.cpp rejects the grammar made from this schema; usual causes are regex patterns with "
                    r"\d, \w or {n} repetition, or quotes and backslashes in property names")
N_CTX = 2048  # tokens one request may use (prompt plus answer), in both runtimes

# What llama-cpp-python's chat completion uses when not told otherwise: kept so answers stay as they were.
_TOP_K, _TOP_P, _MIN_P, _REPEAT_PENALTY = 40, 0.95, 0.05, 1.0
# The same, as llama-server's request fields: both runtimes sample alike.
SAMPLER_DEFAULTS = {"top_k": _TOP_K, "top_p": _TOP_P, "min_p": _MIN_P, "repeat_penalty": _REPEAT_PENALTY}


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    model: str
    tool_calls: tuple[ToolCall, ...] = ()

    def deltas(self) -> Iterator[Delta]:
        """This completion as stream pieces: the text word by word, each tool call, then the final piece."""
        words = self.text.split(" ") if self.text else []
        for i, word in enumerate(words):
            yield Delta(word if i == 0 else " " + word)
        for i, call in enumerate(self.tool_calls):
            yield Delta("", tool_call=ToolCallPiece(i, "", call.id, call.name))
            yield Delta("", tool_call=ToolCallPiece(i, call.arguments))
        yield Delta("", self.finish_reason, self.prompt_tokens, self.completion_tokens)


@dataclass(frozen=True)
class Delta:
    """One streamed piece; the last one carries ``finish_reason`` and the token counts."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    tool_call: ToolCallPiece | None = None


@dataclass(frozen=True)
class Sampling:
    """The OpenAI sampling fields a request may set; the defaults are the gateway's deterministic ones."""

    temperature: float = 0.0
    top_p: float | None = None
    seed: int | None = None
    stop: tuple[str, ...] = ()


def schema_grammar(schema: dict) -> str:
    """GBNF for a JSON schema, or ``InvalidInputError`` naming what llama.cpp cannot translate.

    llama-cpp-python falls back to "any JSON" when its converter fails, which would
    quietly drop the constraint: we refuse instead.
    """
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema))  # a copy: the converter rewrites $ref in place
    except (AssertionError, ValueError, KeyError, AttributeError, TypeError, RecursionError) as exc:
        raise InvalidInputError(
            f"llama.cpp cannot turn this schema into a grammar ({str(exc)[:200]}); "
            "avoid not/if/then, remote or recursive $ref, boolean sub-schemas and regex look-arounds"
        ) from None


_END = object()


class TokenStream(Iterator[Delta]):
    """The pieces of one generation, produced by a worker thread.

    The worker alone holds the model's lock, and checks between tokens whether the stream was closed
    (or dropped without closing): then it stops and releases the model. A consumer that walks away
    therefore costs at most one more token, never the model."""

    def __init__(self, produce: Callable[[Callable[[], bool], Callable[[Delta], None]], None]) -> None:
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._cancel = threading.Event()
        self._done = False
        # Not a method of self: the worker must not keep the stream alive, or dropping it would not cancel.
        weakref.finalize(self, self._cancel.set)
        threading.Thread(target=_work, args=(produce, self._cancel, self._queue), name="slmkit-generate",
                         daemon=True).start()

    def __next__(self) -> Delta:
        if self._done:
            raise StopIteration
        item = self._queue.get()
        if item is _END:
            self._done = True
            raise StopIteration
        if isinstance(item, BaseException):
            self._done = True
            raise item
        return item

    def close(self) -> None:
        """Stop the generation at the next token; safe from any thread, also while another one reads."""
        self._cancel.set()
        self._done = True


def _work(produce: Callable[[Callable[[], bool], Callable[[Delta], None]], None], cancel: threading.Event,
          out: queue.SimpleQueue) -> None:
    try:
        produce(cancel.is_set, out.put)
    except Exception as exc:  # handed to the reader, which raises it in its own thread
        out.put(exc)
    finally:
        out.put(_END)


class _StopCutter:
    """Text in, text out, cut at the first stop string; the tail that might begin one is held back."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self.stops = tuple(s for s in stops if s)
        self.text = ""
        self.sent = 0
        self.hit = False

    def feed(self, piece: str) -> str:
        self.text += piece
        if not self.stops:
            return self._send(len(self.text))
        cuts = [i for i in (self.text.find(s, self.sent) for s in self.stops) if i >= 0]
        if cuts:
            self.hit = True
            self.text = self.text[: min(cuts)]
            return self._send(len(self.text))
        hold = max((k for s in self.stops for k in range(1, len(s)) if self.text.endswith(s[:k])), default=0)
        return self._send(len(self.text) - hold)

    def rest(self) -> str:
        return self._send(len(self.text))

    def _send(self, upto: int) -> str:
        piece, self.sent = self.text[self.sent:upto], max(self.sent, upto)
        return piece


def check_messages(messages: list[Message], max_tokens: int) -> None:
    """Refuse what no local model can answer, before any work (both runtimes)."""
    if not messages:
        raise InvalidInputError("messages is empty")
    for m in messages:
        if not isinstance(m, dict) or m.get("role") not in {"system", "user", "assistant", "tool"}:
            raise InvalidInputError("each message needs a role of system, user, assistant or tool, and content")
        calls = m.get("tool_calls")
        if calls is not None and (m["role"] != "assistant" or not isinstance(calls, list)):
            raise InvalidInputError("only an assistant message carries tool_calls, as a list")
        if not isinstance(m.get("content"), str) and not (calls and m.get("content") is None):
            raise InvalidInputError("message content must be a string")
    if max_tokens < 1:
        raise InvalidInputError("max_tokens must be at least 1")


@dataclass(frozen=True)
class LocalTurn:
    """One request as a local model reads it: the history in plain turns (tools described in the system
    turn), the grammar that constrains the reply, and the tool use the reply is read against."""

    messages: list[Message]
    grammar: str | None
    tools: ToolUse | None


def local_turn(messages: list[Message], max_tokens: int, json_schema: dict | None = None,
               tools: ToolUse | None = None) -> LocalTurn:
    """What the server runtime sends its child: the same plain turns and grammar the in-process runtime
    builds, so both constrain and read replies alike. (Grammars are checked by the child, which answers
    400 for one its parser rejects.)"""
    check_messages(messages, max_tokens)
    tools = tools.for_local(messages) if tools is not None else None
    plain = plain_history(messages)
    grammar = None
    if tools is not None and tools.offered:
        if json_schema is not None:
            raise InvalidInputError("response_format with a JSON schema cannot be combined with tools here; "
                                    "send one or the other (or tool_choice none)")
        grammar = tools_grammar(schema_grammar(call_schema(tools)), tools)
    elif json_schema is not None:
        grammar = schema_grammar(json_schema)
    return LocalTurn(with_tools(plain, tools) if tools is not None else plain, grammar, tools)


@dataclass
class LlamaModel:
    """A ``llama_cpp.Llama`` loaded on first use, used under one lock, freed by ``close``: what the
    generators and the llama.cpp embedder share."""

    _llm: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @property
    def ready(self) -> bool:
        return self._llm is not None

    def _load(self, model: ModelSpec, **options: Any) -> None:
        if self._llm is not None:
            return  # loaded: no need to wait for the lock (and a call running under it)
        with self._lock:
            if self._llm is None:
                from llama_cpp import Llama

                self._llm = Llama(model_path=str(resolve(model, "model")), verbose=False, **options)
                # llama.cpp's own finaliser runs too late at interpreter exit (its C bindings are gone by
                # then) and prints a TypeError traceback: free the model while they still exist.
                atexit.register(self.close)

    def close(self) -> None:
        """Free the model; the next call loads it again. Waits briefly for a running call, and leaves
        the model to the process's end if one does not stop (a daemon worker at exit)."""
        if not self._lock.acquire(timeout=2.0):
            return
        try:
            if self._llm is not None:
                self._llm.close()
                self._llm = None
        finally:
            self._lock.release()


@dataclass
class LlamaGenerator(LlamaModel):
    spec: ModelSpec
    threads: int = 2
    n_ctx: int = N_CTX
    _checked_grammars: set[str] = field(default_factory=set, init=False, repr=False)
    _formatter: Any = field(default=None, init=False, repr=False)

    def warm_up(self) -> LlamaGenerator:
        self._load(self.spec, n_ctx=self.n_ctx, n_threads=self.threads, n_threads_batch=self.threads)
        return self

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def check_json_schema(self, schema: dict) -> str:
        """The grammar for ``schema``, refused when llama.cpp's C parser rejects it (see ``check_grammar``)."""
        grammar = schema_grammar(schema)
        self.check_grammar(grammar)
        return grammar

    def check_grammar(self, grammar: str) -> None:
        """Refuse a grammar llama.cpp's C parser rejects: generating with it segfaults the process
        (a null sampler), which in a server would take every request down with it."""
        if grammar in self._checked_grammars:
            return
        import llama_cpp
        from llama_cpp._utils import suppress_stdout_stderr

        self.warm_up()
        with suppress_stdout_stderr(disable=False):
            sampler = llama_cpp.llama_sampler_init_grammar(self._llm._model.vocab, grammar.encode("utf-8"), b"root")
        if not sampler:
            raise InvalidInputError(GRAMMAR_REJECTED)
        llama_cpp.llama_sampler_free(sampler)
        self._checked_grammars.add(grammar)

    def _check(self, messages: list[Message], max_tokens: int) -> None:
        check_messages(messages, max_tokens)

    def _prompt(self, messages: list[Message], max_tokens: int, tools: ToolUse | None) -> list[int]:
        """The prompt's tokens exactly as the model will read them, refused when it cannot fit."""
        rendered = plain_history(messages)
        if tools is not None:
            rendered = with_tools(rendered, tools)
        tokens = self._llm.tokenize(self.render_prompt(rendered).encode("utf-8"), add_bos=False, special=True)
        if len(tokens) + max_tokens > self.n_ctx:
            raise InvalidInputError(
                f"prompt ({len(tokens)} tokens) plus max_tokens ({max_tokens}) exceeds the context of {self.n_ctx}"
            )
        return tokens

    def _grammar(self, json_schema: dict | None, tools: ToolUse | None) -> str | None:
        if tools is not None and tools.offered:
            if json_schema is not None:
                raise InvalidInputError("response_format with a JSON schema cannot be combined with tools here; "
                                        "send one or the other (or tool_choice none)")
            grammar = tools_grammar(schema_grammar(call_schema(tools)), tools)
            self.check_grammar(grammar)
            return grammar
        if json_schema is not None:
            return self.check_json_schema(json_schema)
        return None

    def chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float | None = None,
        seed: int | None = 0,
        stop: tuple[str, ...] = (),
        json_schema: dict | None = None,
        tools: ToolUse | None = None,
    ) -> Completion:
        """One completion. With ``json_schema`` the output is grammar-constrained to that schema; with
        ``tools`` the model may (or, per ``tools.choice``, must) answer with a tool call instead of text.

        The same generation as ``stream``, read to the end: both count tokens the same way."""
        text, calls, last = [], [], Delta("")
        for delta in self.stream(messages, max_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed,
                                 stop=stop, json_schema=json_schema, tools=tools):
            text.append(delta.text)
            if delta.tool_call is not None:
                calls.append(delta.tool_call)
            last = delta
        return Completion("".join(text), last.prompt_tokens, last.completion_tokens, last.finish_reason or "stop",
                          self.spec.name, assemble_calls(calls))

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float | None = None,
        seed: int | None = 0,
        stop: tuple[str, ...] = (),
        json_schema: dict | None = None,
        tools: ToolUse | None = None,
    ) -> TokenStream:
        """Pieces as they are generated; the final piece has the finish reason and the token counts.

        Bad input raises here, before anything is generated. Close the stream to stop early."""
        self.warm_up()
        self._check(messages, max_tokens)
        tools = tools.for_local(messages) if tools is not None else None
        grammar = self._grammar(json_schema, tools)
        prompt = self._prompt(messages, max_tokens, tools)
        sampling = Sampling(temperature, top_p, 0 if seed is None else seed % 2**32, tuple(stop))  # 32-bit seeds

        def produce(cancelled: Callable[[], bool], emit: Callable[[Delta], None]) -> None:
            self._generate(prompt, grammar, max_tokens, sampling, ReplyReader(tools), cancelled, emit)

        return TokenStream(produce)

    def _generate(self, prompt: list[int], grammar: str | None, max_tokens: int, sampling: Sampling,
                  reader: ReplyReader, cancelled: Callable[[], bool], emit: Callable[[Delta], None]) -> None:
        """The token loop, on the worker thread, under the lock: sample, cut at stop strings, hand out pieces."""
        import llama_cpp
        from llama_cpp import LlamaGrammar

        def send(pieces: list[str | ToolCallPiece]) -> None:
            for piece in pieces:
                emit(Delta(piece) if isinstance(piece, str) else Delta("", tool_call=piece))

        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        cutter = _StopCutter(sampling.stop)
        produced, finish = 0, "length"
        with self._lock:
            llm = self._llm
            llm.set_seed(sampling.seed or 0)
            tokens = llm.generate(
                prompt, top_k=_TOP_K, top_p=_TOP_P if sampling.top_p is None else sampling.top_p, min_p=_MIN_P,
                temp=sampling.temperature, repeat_penalty=_REPEAT_PENALTY,
                grammar=LlamaGrammar.from_string(grammar, verbose=False) if grammar else None)
            try:
                for token in tokens:
                    if cancelled():
                        finish = "cancelled"
                        break
                    if llama_cpp.llama_vocab_is_eog(llm._model.vocab, token):
                        finish = "stop"
                        break
                    produced += 1
                    text = cutter.feed(decoder.decode(llm.detokenize([token])))
                    if text:
                        send(reader.feed(text))
                    if cutter.hit:
                        finish = "stop"
                        break
                    if produced >= max_tokens:
                        break
            finally:
                tokens.close()
        send(reader.feed(cutter.feed(decoder.decode(b"", final=True)) + cutter.rest()))
        send(reader.finish())
        emit(Delta("", finish_reason=reader.finish_reason(finish), prompt_tokens=len(prompt),
                   completion_tokens=produced))

    def render_prompt(self, messages: list[Message]) -> str:
        """The exact prompt the model's own chat template makes, ending where the assistant starts."""
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.warm_up()
        if self._formatter is None:
            meta = self._llm.metadata
            template = meta.get("tokenizer.chat_template")
            if not template:
                raise InvalidInputError(f"{self.spec.name} has no chat template in its GGUF metadata")
            vocab = self._llm._model
            self._formatter = Jinja2ChatFormatter(
                template,
                eos_token=vocab.token_get_text(vocab.token_eos()),
                bos_token=vocab.token_get_text(vocab.token_bos()),
            )
        return self._formatter(messages=messages).prompt

    def option_logprobs(self, prompt: str | list[Message], options: list[str]) -> list[float]:
        """Log-probability of each option as the next token, renormalised over the options.

        ``prompt`` is raw text to continue, or messages rendered with the chat template.
        One forward pass, no sampling: how a multiple-choice answer (A-D) is scored.
        The KV cache is reused for the prefix shared with the previous call, so fixed
        instructions or examples in front cost nothing after the first question.
        """
        import numpy as np

        if isinstance(prompt, str):
            if not prompt.strip():
                raise InvalidInputError("prompt is empty")
            text = prompt
        else:
            self._check(prompt, 1)
            text = self.render_prompt(plain_history(prompt))
        self.warm_up()
        ids = []
        for option in options:
            tokens = self._llm.tokenize(option.encode("utf-8"), add_bos=False, special=False)
            if len(tokens) != 1:
                raise InvalidInputError(f"option {option!r} is not a single token for {self.spec.name}")
            ids.append(tokens[0])
        tokens = self._llm.tokenize(text.encode("utf-8"), add_bos=isinstance(prompt, str), special=True)
        if len(tokens) + 1 > self.n_ctx:
            raise InvalidInputError(f"prompt ({len(tokens)} tokens) exceeds the context of {self.n_ctx}")
        with self._lock:
            llm = self._llm
            shared = 0
            limit = min(llm.n_tokens, len(tokens) - 1)  # evaluate at least one token: its logits are the answer
            while shared < limit and llm.input_ids[shared] == tokens[shared]:
                shared += 1
            llm.n_tokens = shared
            llm.eval(tokens[shared:])
            logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),))[ids].astype(np.float64)
        logits -= logits.max()
        return list(logits - np.log(np.exp(logits).sum()))

    def chat_scored(self, messages: list[Message], *, max_tokens: int = 256,
                    stop: tuple[str, ...] = ()) -> tuple[Completion, list[float]]:
        """Greedy completion with the log-probability of every token it chose: what a cascade
        needs to judge its own answer. (llama.cpp only exposes per-token log-probabilities when
        logits are kept for the whole context, ~1 GB for this vocabulary; this keeps one row.)"""
        import numpy as np

        self.warm_up()
        self._check(messages, max_tokens)
        prompt = self._prompt(messages, max_tokens, None)
        eos = {self._llm.token_eos()}
        for marker in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            ids = self._llm.tokenize(marker.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                eos.add(ids[0])
        produced: list[int] = []
        logprobs: list[float] = []
        finish = "length"
        cutter = _StopCutter(stop)
        with self._lock:
            llm = self._llm
            llm.reset()
            llm.eval(prompt)
            for _ in range(max_tokens):
                logits = np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).astype(np.float64)
                token = int(logits.argmax())
                top = logits[token]
                logprobs.append(float(-np.log(np.exp(logits - top).sum())))
                if token in eos:
                    logprobs.pop()  # the stop token says nothing about the answer's content
                    finish = "stop"
                    break
                produced.append(token)
                if stop:
                    cutter.feed(llm.detokenize([token]).decode("utf-8", errors="ignore"))
                    if cutter.hit:
                        finish = "stop"
                        break
                llm.eval([token])
            text = llm.detokenize(produced).decode("utf-8", errors="replace")
        if cutter.hit:
            text = cutter.text
        completion = Completion(text, len(prompt), len(produced), finish, self.spec.name)
        return completion, logprobs


def assemble_calls(pieces: list[ToolCallPiece]) -> tuple[ToolCall, ...]:
    """Whole tool calls from their streamed pieces (one call per index)."""
    calls: dict[int, list[str]] = {}
    for p in pieces:
        entry = calls.setdefault(p.index, [p.id or "", p.name or "", ""])
        entry[0], entry[1] = entry[0] or p.id or "", entry[1] or p.name or ""
        entry[2] += p.arguments
    return tuple(ToolCall(i, n, a) for i, n, a in (calls[k] for k in sorted(calls)))


class Generator(Protocol):
    """What callers of ``get_generator`` may use: ``LlamaGenerator`` in this process, or a ``ServerGenerator``
    (models/served.py) whose model runs in a llama-server child."""

    spec: ModelSpec
    n_ctx: int

    def warm_up(self) -> Generator: ...
    def count_tokens(self, text: str) -> int: ...
    def check_json_schema(self, schema: dict) -> str: ...
    def chat(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0,
             top_p: float | None = None, seed: int | None = 0, stop: tuple[str, ...] = (),
             json_schema: dict | None = None, tools: ToolUse | None = None) -> Completion: ...
    def stream(self, messages: list[Message], *, max_tokens: int = 256, temperature: float = 0.0,
               top_p: float | None = None, seed: int | None = 0, stop: tuple[str, ...] = (),
               json_schema: dict | None = None, tools: ToolUse | None = None) -> Iterator[Delta]: ...
    def chat_scored(self, messages: list[Message], *, max_tokens: int = 256,
                    stop: tuple[str, ...] = ()) -> tuple[Completion, list[float]]: ...


class ServedGenerators(Protocol):
    """Where ``get_generator`` takes its generators while this process serves (models/served.py's ServerRuntime)."""

    def serves(self, model: str) -> bool: ...
    def generator(self, model: str) -> Generator: ...


_served: ServedGenerators | None = None  # None: every generator runs in this process


def use_server_runtime(runtime: ServedGenerators | None) -> None:
    """Hand out generators served by llama-server children from now on (``runtime``), or in-process again (None).

    The gateway calls this at start-up with its router's runtime: a skill that generates (extract, summarize,
    RAG answers) then talks to the very child the router's tier for that model uses, instead of loading a
    second copy of the model in the gateway, unbatched, where a crash inside llama.cpp would take the gateway
    down. The CLI's one-shot commands and the Python API never call it: there every generator is in-process."""
    global _served
    _served = runtime


@lru_cache(maxsize=4)
def _generator(name: str, threads: int, n_ctx: int) -> LlamaGenerator:
    return LlamaGenerator(get_spec(name), threads=threads, n_ctx=n_ctx)


def inprocess_generator(name: str | None = None, threads: int | None = None, n_ctx: int = N_CTX) -> LlamaGenerator:
    """The process-wide in-process generator for ``name`` (default: the configured small generator), whatever
    ``use_server_runtime`` chose: what a tier pinned to ``runtime: inprocess`` uses."""
    settings = get_settings()
    return _generator(name or settings.generator_model, threads or max(settings.threads, 2), n_ctx)


def get_generator(name: str | None = None, threads: int | None = None, n_ctx: int = N_CTX) -> Generator:
    """The process-wide generator for ``name`` (default: the configured small generator).

    In-process unless the gateway chose the server runtime (``use_server_runtime``); then the child that serves
    ``name`` answers, with the threads and slots of the router's tier for it (``threads`` applies in-process
    only), unless a tier pins that model in-process or ``n_ctx`` is not the children's window."""
    served = _served
    model = name or get_settings().generator_model
    if served is not None and n_ctx == N_CTX and served.serves(model):
        return served.generator(model)
    return inprocess_generator(model, threads, n_ctx)
