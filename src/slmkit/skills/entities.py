"""``entities``: named-entity spans from spaCy's en_core_web_sm (18 OntoNotes labels).

The greedy transition-based NER of the small spaCy model gives no per-span
probability, so ``score`` is ``None``; the field is there for runtimes that do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from slmkit.errors import InvalidInputError
from slmkit.models.spacy_nlp import NER_CHUNK_CHARS, get_nlp, ner_doc, ner_view
from slmkit.skills.base import clean
from slmkit.text import unbatch

ONTONOTES_LABELS = frozenset({
    "PERSON", "NORP", "FAC", "ORG", "GPE", "LOC", "PRODUCT", "EVENT", "WORK_OF_ART", "LAW", "LANGUAGE",
    "DATE", "TIME", "PERCENT", "MONEY", "QUANTITY", "ORDINAL", "CARDINAL",
})


@dataclass(frozen=True)
class Entity:
    text: str
    label: str
    start: int  # character offsets into the input: text == input[start:end]
    end: int
    score: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


class Entities:
    name = "entities"

    def __init__(self, labels: Iterable[str] | None = None, batch_size: int = 64) -> None:
        wanted = frozenset(labels) if labels is not None else ONTONOTES_LABELS
        unknown = wanted - ONTONOTES_LABELS
        if unknown:
            raise InvalidInputError(
                f"unknown entity label(s) {sorted(unknown)}; known: {', '.join(sorted(ONTONOTES_LABELS))}"
            )
        self.labels = wanted
        self.batch_size = batch_size
        self._nlp: Any = None

    def warm_up(self) -> Entities:
        if self._nlp is None:
            self._nlp = get_nlp()
        return self

    def docs(self, batch: list[str]) -> Iterable[Any]:
        """spaCy Docs for ``batch`` (other skills, like ``pii``, reuse them rather than parse twice)."""
        self.warm_up()
        if all(len(text) <= NER_CHUNK_CHARS for text in batch):  # the common case: spaCy's own batching
            return self._nlp.pipe([ner_view(text) for text in batch], batch_size=self.batch_size)
        return (ner_doc(self._nlp, text) for text in batch)  # long texts piece by piece: linear time

    def spans(self, doc: Any) -> list[Entity]:
        return [Entity(e.text, e.label_, e.start_char, e.end_char) for e in doc.ents if e.label_ in self.labels]

    def __call__(self, items: object) -> list[Entity] | list[list[Entity]]:
        batch, single = clean(items)
        return unbatch([self.spans(doc) for doc in self.docs(batch)], single)
