"""``SLM``: the one entry object the CLI (and later the gateway) is a skin over.

    from slmkit import SLM
    slm = SLM()
    slm.classify("book a table for two", labels=["book_restaurant", "get_weather"])
    slm.sentiment(["loved it", "dull and far too long"])

Skills are built on first use and kept, so repeated calls pay no load cost.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol, Self, TypeVar, cast

from slmkit.config import get_settings
from slmkit.config.guard import GuardPolicy
from slmkit.errors import InvalidInputError
from slmkit.guard.guard import Guard
from slmkit.guard.redact import Vault, redact
from slmkit.skills.base import clean
from slmkit.skills.classify import Classify
from slmkit.skills.embed import Embed
from slmkit.skills.entities import Entities
from slmkit.skills.extract import Extract
from slmkit.skills.langid import LangId
from slmkit.skills.moderate import Moderate
from slmkit.skills.pii import Pii
from slmkit.skills.rerank import Rerank
from slmkit.skills.sentiment import Method, Sentiment
from slmkit.skills.summarize import Summarize
from slmkit.text import unbatch


class _Loadable(Protocol):
    def warm_up(self) -> Self: ...


S = TypeVar("S", bound=_Loadable)


class SLM:
    def __init__(self, embed_model: str | None = None) -> None:
        self.embed_model = embed_model or get_settings().embed_model
        self._skills: dict[tuple, _Loadable] = {}

    def _skill(self, key: tuple, build: Callable[[], S]) -> S:
        if key not in self._skills:
            self._skills[key] = build().warm_up()
        return cast(S, self._skills[key])  # the key names the skill, so the type built for it

    def warm_up(self, *names: str) -> SLM:
        """Load the named skills now (all encoder skills by default) instead of on first call."""
        for name in names or ("embed", "sentiment", "langid", "rerank"):
            getattr(self, f"_{name}")()
        return self

    def _embed(self) -> Embed:
        return self.encoder(self.embed_model)

    def encoder(self, model: str) -> Embed:
        """The loaded ``Embed`` skill for a catalog encoder (the gateway serves any of them by name)."""
        return self._skill(("embed", model), lambda: Embed(model))

    def _sentiment(self, method: Method = "head") -> Sentiment:
        return self._skill(("sentiment", method), lambda: Sentiment(method, self.embed_model))

    def _langid(self) -> LangId:
        return self._skill(("langid",), LangId)

    def _rerank(self) -> Rerank:
        return self._skill(("rerank", self.embed_model), lambda: Rerank(self.embed_model))

    def embed(self, items: Any):
        return self._embed()(items)

    def classify(self, items: Any, *, labels: Sequence[str] | dict | None = None, head: str | None = None,
                 version: int | None = None, threshold: float | None = None):
        """Zero-shot with ``labels`` (names or name -> description), or a trained head by ``head`` name."""
        if (labels is None) == (head is None):
            raise InvalidInputError("give either labels (zero-shot) or head (a trained classifier), not both")
        if head is not None:
            skill = self._skill(("head", head, version, threshold), lambda: Classify.load(head, version,
                                                                                          threshold=threshold))
        else:
            # Label descriptions are embedded once per label set, not on every call.
            key = ("zero-shot", json_key(labels), threshold)
            skill = self._skill(key, lambda: Classify.zero_shot(labels, threshold=threshold,  # type: ignore[arg-type]
                                                                model=self.embed_model))
        return skill(items)

    def train_classifier(self, name: str, texts: Sequence[str], labels: Sequence[str], **kwargs: Any) -> Classify:
        """Fit a few-shot head and save it as the next version of ``name``; returns the skill."""
        skill = Classify.fit(texts, labels, name=name, model=self.embed_model, **kwargs)
        self._skills = {k: v for k, v in self._skills.items() if not (k[0] == "head" and k[1] == name)}
        return skill

    def sentiment(self, items: Any, *, method: Method = "head"):
        return self._sentiment(method)(items)

    def langid(self, items: Any):
        return self._langid()(items)

    def rerank(self, query: str, passages: Sequence[str], top_k: int | None = None):
        return self._rerank()(query, passages, top_k)

    # -- span and generative specialists, and the guard --------------------------------------
    def _entities(self) -> Entities:
        return self._skill(("entities",), Entities)

    def _pii(self) -> Pii:
        return self._skill(("pii",), Pii)

    def _moderate(self) -> Moderate:
        return self._skill(("moderate", self.embed_model), lambda: Moderate(self.embed_model))

    def entities(self, items: Any, *, labels: Sequence[str] | None = None):
        """Named-entity spans; ``labels`` keeps only those OntoNotes types."""
        if labels is None:
            return self._entities()(items)
        return Entities(labels).warm_up()(items)

    def pii(self, items: Any):
        return self._pii()(items)

    def redact(self, items: Any, *, mode: str = "mask"):
        """Detect and replace personal data; one vault across a batch keeps placeholders consistent."""
        batch, single = clean(items)
        vault = Vault()
        found = self._pii()(batch)
        return unbatch([redact(text, spans, mode, vault) for text, spans in zip(batch, found, strict=True)], single)  # type: ignore[arg-type]

    def moderate(self, items: Any):
        return self._moderate()(items)

    def extract(self, items: Any, *, schema: dict, generator: str | None = None, instructions: str | None = None):
        """Structured extraction to ``schema`` with the local small generator (grammar-constrained)."""
        key = ("extract", json_key(schema), generator, instructions)
        return self._skill(key, lambda: Extract(schema, generator=generator, instructions=instructions))(items)

    def summarize(self, items: Any, *, max_words: int = 60, generator: str | None = None):
        return self._skill(("summarize", max_words, generator),
                           lambda: Summarize(max_words=max_words, generator=generator))(items)

    def guard(self, policy: GuardPolicy | None = None) -> Guard:
        """The guard with ``policy`` (default: the configured one)."""
        chosen = policy or get_settings().guard
        return self._skill(("guard", json_key(chosen.model_dump())), lambda: Guard(chosen))


def json_key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)
