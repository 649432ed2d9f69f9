"""Grounded answers: retrieve, decide whether the documents can answer at all, prompt a local
generator with numbered sources, and return the answer with citations ([1] -> file + chunk).

Refusal happens twice: before generation, when retrieval confidence is below a
calibrated threshold (no tokens are spent), and by the model itself, which is
told to reply with NOT_FOUND when the sources do not hold the answer.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from slmkit.errors import InvalidInputError
from slmkit.rag.index import Filter, Index
from slmkit.rag.retrieve import Hit, Retriever

NOT_FOUND = "Not found in the documents."

# P(answer is in the collection) = sigmoid(a * cosine + b * coverage + c), from the top re-ranked chunk:
# its cosine similarity to the question and the share of the question's content words it contains.
# Fitted by `slmkit eval rag` (logistic regression; SQuAD v1.1 dev, 300 seeded questions asked against the
# full collection and again with their whole article filtered out); the threshold maximises
# Youden's J on that half. On the other 300 questions: AUC 0.963, 95.7% of answerable questions
# answered, 85.3% of not-in-collection questions refused. Other domains may want their own threshold.
CONFIDENCE_WEIGHTS = (11.278, 6.499, -8.072)
DEFAULT_THRESHOLD = 0.396

# Tried on the 0.5B generator: told to reply NOT_FOUND "if the sources do not contain the answer",
# it refused questions its sources answered word for word, so refusal is left to the calibrated
# retrieval gate and the model is only asked to say so in its own words (is_refusal catches it).
_SYSTEM = (
    "Answer the question using only the numbered sources. Quote exact figures and put the source number in "
    "square brackets after each fact, for example: Revenue was EUR 5 million [2]. If the sources do not answer "
    "the question, say that it is not found in the documents."
)
# Short (extractive) answers for evaluation: a 0.5B model asked to cite as well often replies
# with the citation alone ("[2]"); asked for the phrase only it answers. Citations are still
# returned (the sources it was shown), just not written into the text.
_SYSTEM_SHORT = (
    "You answer questions using only the numbered sources the user gives you. "
    "Reply with only the shortest exact phrase from the sources that answers the question "
    "(a name, number, date or a few words), nothing else. "
    f"If the sources do not contain the answer, reply exactly: {NOT_FOUND}"
)
_CITE = re.compile(r"\[(\d{1,2})\]")


@dataclass(frozen=True)
class Citation:
    n: int  # the [n] in the answer
    source: str  # the file (or in-memory source name)
    title: str
    heading: str
    chunk: int  # chunk ordinal within the file, from 0
    page: int | None
    chunk_id: int
    score: float
    text: str


@dataclass
class RagAnswer:
    question: str
    text: str
    found: bool
    confidence: float  # calibrated P(the collection holds the answer), from retrieval alone
    threshold: float
    sources: list[Citation] = field(default_factory=list)  # what the generator was shown, numbered
    cited: list[int] = field(default_factory=list)  # the [n] the answer actually uses
    model: str = ""
    retrieval_ms: float = 0.0
    generation_ms: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    extractive: bool = False  # the text is a source sentence picked for a citation-only reply

    @property
    def citations(self) -> list[Citation]:
        """The sources the answer cites, in citation order."""
        by_n = {c.n: c for c in self.sources}
        return [by_n[n] for n in self.cited if n in by_n]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["citations"] = [asdict(c) for c in self.citations]
        return out


def _coverage(question: str, text: str) -> float:
    from slmkit.skills.bm25 import tokenize

    words = set(tokenize(question))
    return len(words & set(tokenize(text))) / len(words) if words else 0.0


def confidence_features(question: str, hits: Sequence[Hit]) -> tuple[float, float]:
    """(cosine, coverage) of the top hit: what the refusal gate looks at."""
    if not hits or hits[0].dense is None:
        return 0.0, 0.0
    return float(hits[0].dense), _coverage(question, hits[0].chunk.embed_text)


def confidence_from(features: Sequence[float], weights: Sequence[float] = CONFIDENCE_WEIGHTS) -> float:
    a, b, c = weights
    z = a * features[0] + b * features[1] + c
    return 1.0 / (1.0 + math.exp(-z))


def confidence(question: str, hits: Sequence[Hit], weights: Sequence[float] = CONFIDENCE_WEIGHTS) -> float:
    """Calibrated probability that the top hit answers ``question`` (0 when nothing was retrieved)."""
    if not hits or hits[0].dense is None:
        return 0.0
    return confidence_from(confidence_features(question, hits), weights)


def build_messages(question: str, hits: Sequence[Hit], short: bool = False) -> list[dict[str, str]]:
    # Bare text: given file names or headings, small models copy them into the answer; the file and
    # chunk behind each [n] are in the citations instead.
    sources = "\n\n".join(f"[{n}] {h.chunk.text}" for n, h in enumerate(hits, start=1))
    return [
        {"role": "system", "content": _SYSTEM_SHORT if short else _SYSTEM},
        {"role": "user", "content": f"Sources:\n\n{sources}\n\nQuestion: {question}"},
    ]


def strip_citations(text: str) -> str:
    return " ".join(_CITE.sub(" ", text).split())


def is_refusal(text: str) -> bool:
    lowered = text.lower()
    return "not found in the documents" in lowered or "not found in the sources" in lowered


def _best_sentence(question: str, text: str) -> str:
    from slmkit.rag.chunking import sentences

    return max(sentences(text) or [text], key=lambda s: _coverage(question, s))


class Answerer:
    """Keeps a retriever and a generator warm for many questions on one collection.

    ``tier`` hands generation to the router's tier of that name (e.g. "large"); without it
    the local generator ``model`` (default: the configured small generator) answers.
    """

    def __init__(self, collection: str, *, index: Index | None = None, retriever: Retriever | None = None,
                 model: str | None = None, tier: str | None = None, threshold: float | None = None, k: int = 4,
                 max_context_words: int = 900, threads: int | None = None) -> None:
        if k < 1:
            raise InvalidInputError("k must be at least 1")
        self.retriever = retriever or Retriever(collection, index)
        self.model = model
        self.tier = tier
        self.threshold = DEFAULT_THRESHOLD if threshold is None else float(threshold)
        if not 0.0 <= self.threshold <= 1.0:
            raise InvalidInputError("threshold is a probability: between 0 and 1")
        self.k = k
        self.max_context_words = max_context_words
        # One thread is much faster than two when another process holds a core (llama.cpp's
        # threads spin on each other); the default follows the settings.
        self.threads = threads
        self._router: Any = None

    def _fit(self, hits: list[Hit], question: str, short: bool, max_tokens: int) -> list[Hit]:
        """Drop the lowest-ranked sources until the prompt fits: the generator's context is 2,048 tokens."""
        words = 0
        kept: list[Hit] = []
        for hit in hits:
            words += len(hit.chunk.text.split()) + 8
            if kept and words > self.max_context_words:
                break
            kept.append(hit)
        if self.tier is None:
            from slmkit.models.llama import get_generator

            generator = get_generator(self.model, threads=self.threads)
            while len(kept) > 1:
                tokens = sum(generator.count_tokens(m["content"]) + 8 for m in build_messages(question, kept, short))
                if tokens + max_tokens <= generator.n_ctx:
                    break
                kept.pop()
        return kept

    def _generate(self, messages: list[dict[str, str]], max_tokens: int) -> tuple[str, str, int, int]:
        if self.tier is not None:
            if self._router is None:
                from slmkit.router.router import Router

                self._router = Router()
            routed = self._router.run(messages, tier=self.tier, max_tokens=max_tokens)
            completion = routed.answer.completion  # type: ignore[union-attr]
            return completion.text, f"{routed.decision.tier}:{completion.model}", completion.prompt_tokens, \
                completion.completion_tokens
        from slmkit.models.llama import get_generator

        generator = get_generator(self.model, threads=self.threads)
        completion = generator.chat(messages, max_tokens=max_tokens, temperature=0.0)
        return completion.text, completion.model, completion.prompt_tokens, completion.completion_tokens

    def answer(self, question: str, hits: Sequence[Hit], *, short: bool = False, max_tokens: int = 256,
               retrieval_ms: float = 0.0) -> RagAnswer:
        """Answer from hits already retrieved (the eval reuses its retrieval this way)."""
        hits = list(hits)[: self.k]
        conf = confidence(question, hits)
        result = RagAnswer(question, NOT_FOUND, False, conf, self.threshold, retrieval_ms=retrieval_ms)
        if not hits or conf < self.threshold:
            return result
        hits = self._fit(hits, question, short, max_tokens)
        result.sources = [
            Citation(n, h.chunk.source, h.chunk.title, h.chunk.heading, h.chunk.ordinal, h.chunk.page, h.chunk.id,
                     round(h.score, 4), h.chunk.text)
            for n, h in enumerate(hits, start=1)
        ]
        started = time.perf_counter()
        text, model, prompt_tokens, completion_tokens = self._generate(build_messages(question, hits, short), max_tokens)
        result.generation_ms = 1000 * (time.perf_counter() - started)
        result.text = text.strip() or NOT_FOUND
        result.model, result.prompt_tokens, result.completion_tokens = model, prompt_tokens, completion_tokens
        result.found = not is_refusal(result.text)
        result.cited = list(dict.fromkeys(int(n) for n in _CITE.findall(result.text) if 1 <= int(n) <= len(hits)))
        if not result.found:
            result.cited = []
        elif result.cited and not strip_citations(result.text) and not short:
            # The small model sometimes answers with a pointer alone ("[2]"), and the pointer is often
            # off by one: give the source sentence that covers most of the question, cited, instead.
            scored = [(_coverage(question, sentence), -n, n, sentence) for n, h in enumerate(hits, start=1)
                      for sentence in [_best_sentence(question, h.chunk.text)]]
            _, _, n, sentence = max(scored)
            result.text, result.cited, result.extractive = f"{sentence} [{n}]", [n], True
        return result

    def ask(self, question: str, *, flt: Filter | None = None, short: bool = False, max_tokens: int = 256) -> RagAnswer:
        if not isinstance(question, str) or not question.strip():
            raise InvalidInputError("question is empty")
        started = time.perf_counter()
        hits = self.retriever.search(question, self.k, "rerank", flt)
        return self.answer(question, hits, short=short, max_tokens=max_tokens,
                           retrieval_ms=1000 * (time.perf_counter() - started))


def ask(question: str, collection: str, *, k: int = 4, threshold: float | None = None, tier: str | None = None,
        model: str | None = None, meta: dict[str, Any] | None = None, sources: Sequence[str] | None = None,
        access: Sequence[str] | None = None, short: bool = False, max_tokens: int = 256,
        threads: int | None = None, index: Index | None = None) -> RagAnswer:
    """Answer ``question`` from ``collection`` with citations, or NOT_FOUND when the documents cannot.

    ``meta``/``sources``/``access`` filter what may be retrieved (see ``index.Filter``).
    """
    answerer = Answerer(collection, index=index, model=model, tier=tier, threshold=threshold, k=k, threads=threads)
    return answerer.ask(question, flt=Filter(meta=meta, sources=sources, access=access), short=short,
                        max_tokens=max_tokens)
