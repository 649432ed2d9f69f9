"""llama.cpp generator runtime: chat, streaming, JSON-schema constrained output, token counts.

llama_cpp is imported on ``warm_up``; a llama.cpp context is not thread-safe, so
calls on one generator are serialised with a lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError
from slmkit.models.catalog import ModelSpec, get_spec
from slmkit.models.store import resolve

Message = dict[str, str]


@dataclass(frozen=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    model: str


@dataclass(frozen=True)
class Delta:
    """One streamed piece; the last one carries ``finish_reason`` and the token counts."""

    text: str
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0


def schema_grammar(schema: dict) -> str:
    """GBNF for a JSON schema, or ``InvalidInputError`` naming what llama.cpp cannot translate.

    llama-cpp-python falls back to "any JSON" when its converter fails, which would
    quietly drop the constraint: we refuse instead.
    """
    import json

    from llama_cpp.llama_grammar import json_schema_to_gbnf

    try:
        return json_schema_to_gbnf(json.dumps(schema))  # a copy: the converter rewrites $ref in place
    except (AssertionError, ValueError, KeyError, AttributeError, TypeError, RecursionError) as exc:
        raise InvalidInputError(
            f"llama.cpp cannot turn this schema into a grammar ({str(exc)[:200]}); "
            "avoid not/if/then, remote or recursive $ref, boolean sub-schemas and regex look-arounds"
        ) from None


@dataclass
class LlamaGenerator:
    spec: ModelSpec
    threads: int = 2
    n_ctx: int = 2048
    _llm: Any = field(default=None, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _checked_schemas: set[str] = field(default_factory=set, init=False, repr=False)
    _formatter: Any = field(default=None, init=False, repr=False)

    @property
    def ready(self) -> bool:
        return self._llm is not None

    def warm_up(self) -> LlamaGenerator:
        with self._lock:
            if self._llm is None:
                from llama_cpp import Llama

                self._llm = Llama(
                    model_path=str(resolve(self.spec, "model")),
                    n_ctx=self.n_ctx,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    verbose=False,
                )
        return self

    def count_tokens(self, text: str) -> int:
        self.warm_up()
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def check_json_schema(self, schema: dict) -> None:
        """Refuse a schema whose grammar llama.cpp's C parser rejects: generating with it segfaults
        the process (a null sampler), which in a server would take every request down with it."""
        import json

        key = json.dumps(schema, sort_keys=True)
        if key in self._checked_schemas:
            return
        import llama_cpp
        from llama_cpp._utils import suppress_stdout_stderr

        grammar = schema_grammar(schema)
        self.warm_up()
        with suppress_stdout_stderr(disable=False):
            sampler = llama_cpp.llama_sampler_init_grammar(self._llm._model.vocab, grammar.encode("utf-8"), b"root")
        if not sampler:
            raise InvalidInputError(
                "llama.cpp rejects the grammar made from this schema; usual causes are regex patterns with "
                r"\d, \w or {n} repetition, or quotes and backslashes in property names"
            )
        llama_cpp.llama_sampler_free(sampler)
        self._checked_schemas.add(key)

    def _check(self, messages: list[Message], max_tokens: int, json_schema: dict | None = None) -> None:
        if json_schema is not None:
            self.check_json_schema(json_schema)
        if not messages:
            raise InvalidInputError("messages is empty")
        for m in messages:
            if not isinstance(m, dict) or m.get("role") not in {"system", "user", "assistant"}:
                raise InvalidInputError("each message needs a role of system, user or assistant, and content")
            if not isinstance(m.get("content"), str):
                raise InvalidInputError("message content must be a string")
        prompt = sum(self.count_tokens(m["content"]) + 4 for m in messages)
        if prompt + max_tokens > self.n_ctx:
            raise InvalidInputError(
                f"prompt (~{prompt} tokens) plus max_tokens ({max_tokens}) exceeds the context of {self.n_ctx}"
            )

    def _kwargs(self, max_tokens: int, temperature: float, seed: int | None, json_schema: dict | None) -> dict:
        kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
        if seed is not None:
            kwargs["seed"] = seed
        if json_schema is not None:
            kwargs["response_format"] = {"type": "json_object", "schema": json_schema}
        return kwargs

    def chat(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        json_schema: dict | None = None,
    ) -> Completion:
        """One completion. With ``json_schema`` the output is grammar-constrained to that schema."""
        self.warm_up()
        self._check(messages, max_tokens, json_schema)
        with self._lock:
            result = self._llm.create_chat_completion(
                messages=messages, **self._kwargs(max_tokens, temperature, seed, json_schema)
            )
        choice = result["choices"][0]
        usage = result.get("usage", {})
        return Completion(
            text=choice["message"].get("content") or "",
            prompt_tokens=usage.get("prompt_tokens", 0),
            completion_tokens=usage.get("completion_tokens", 0),
            finish_reason=choice.get("finish_reason") or "stop",
            model=self.spec.name,
        )

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 256,
        temperature: float = 0.0,
        seed: int | None = 0,
        json_schema: dict | None = None,
    ) -> Iterator[Delta]:
        """Yield text pieces as they are generated; the final piece has the finish reason and token counts."""
        self.warm_up()
        self._check(messages, max_tokens, json_schema)
        with self._lock:
            prompt_tokens = len(self._llm.tokenize(self._render(messages).encode("utf-8"), special=True))
            produced: list[str] = []
            finish = "stop"
            for chunk in self._llm.create_chat_completion(
                messages=messages, stream=True, **self._kwargs(max_tokens, temperature, seed, json_schema)
            ):
                choice = chunk["choices"][0]
                piece = choice.get("delta", {}).get("content") or ""
                if piece:
                    produced.append(piece)
                    yield Delta(piece)
                if choice.get("finish_reason"):
                    finish = choice["finish_reason"]
            completion_tokens = len(self._llm.tokenize("".join(produced).encode("utf-8"), add_bos=False, special=True))
        yield Delta("", finish_reason=finish, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)

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
            text = self.render_prompt(prompt)
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

    def chat_scored(self, messages: list[Message], *, max_tokens: int = 256) -> tuple[Completion, list[float]]:
        """Greedy completion with the log-probability of every token it chose: what a cascade
        needs to judge its own answer. (llama.cpp only exposes per-token log-probabilities when
        logits are kept for the whole context, ~1 GB for this vocabulary; this keeps one row.)"""
        import numpy as np

        self.warm_up()
        self._check(messages, max_tokens)
        prompt = self._llm.tokenize(self.render_prompt(messages).encode("utf-8"), add_bos=False, special=True)
        eos = {self._llm.token_eos()}
        for stop in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>"):
            ids = self._llm.tokenize(stop.encode(), add_bos=False, special=True)
            if len(ids) == 1:
                eos.add(ids[0])
        produced: list[int] = []
        logprobs: list[float] = []
        finish = "length"
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
                llm.eval([token])
            text = llm.detokenize(produced).decode("utf-8", errors="replace")
        completion = Completion(text, len(prompt), len(produced), finish, self.spec.name)
        return completion, logprobs

    def _render(self, messages: list[Message]) -> str:
        # Close enough for a token count: the chat template adds a few tokens per message.
        return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)


@lru_cache(maxsize=4)
def _generator(name: str, threads: int, n_ctx: int) -> LlamaGenerator:
    return LlamaGenerator(get_spec(name), threads=threads, n_ctx=n_ctx)


def get_generator(name: str | None = None, threads: int | None = None, n_ctx: int = 2048) -> LlamaGenerator:
    """The process-wide generator for ``name`` (default: the configured small generator)."""
    settings = get_settings()
    return _generator(name or settings.generator_model, threads or max(settings.threads, 2), n_ctx)
