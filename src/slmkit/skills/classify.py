"""``classify``: zero-shot by label descriptions, or a few-shot head trained on embeddings.

Both return a ``Classification`` whose ``label`` is ``None`` ("none of these")
when the calibrated probability of the best label is below the threshold.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from slmkit.config import get_settings
from slmkit.errors import InvalidInputError
from slmkit.skills.base import clean
from slmkit.skills.embed import Embed
from slmkit.text import unbatch
from slmkit.train.heads import LinearHead, _softmax

LabelSpec = Sequence[str] | Mapping[str, str | Sequence[str]]


@dataclass(frozen=True)
class Classification:
    label: str | None  # None means "none of these"
    score: float  # probability of ``top``
    top: str  # the best label, even when it was rejected
    scores: dict[str, float]


def _label_descriptions(labels: LabelSpec) -> dict[str, list[str]]:
    if isinstance(labels, str) or not isinstance(labels, Sequence | Mapping):
        raise InvalidInputError("labels must be a list of label names or a mapping of label -> description(s)")
    if isinstance(labels, Mapping):
        spec = {k: [v] if isinstance(v, str) else list(v) for k, v in labels.items()}
    else:
        # A bare label name is its own description: "book_restaurant" -> "book restaurant".
        spec = {label: [str(label).replace("_", " ")] for label in labels}
    if len(spec) < 2:
        raise InvalidInputError(f"a classifier needs at least two labels, got {len(spec)}")
    for label, descriptions in spec.items():
        if not isinstance(label, str) or not label.strip():
            raise InvalidInputError(f"label names must be non-empty strings, got {label!r}")
        if not descriptions or not all(isinstance(d, str) and d.strip() for d in descriptions):
            raise InvalidInputError(f"label {label!r} needs at least one non-empty description")
    if len(set(spec)) != len(list(labels)):
        raise InvalidInputError("label names must be unique")
    return spec


class Classify:
    """Construct with ``Classify.zero_shot(labels)``, ``Classify.fit(texts, labels)`` or ``Classify.load(name)``."""

    name = "classify"

    def __init__(self, head: LinearHead | None = None, *, threshold: float | None = None,
                 model: str | None = None, descriptions: dict[str, list[str]] | None = None,
                 zero_shot_temperature: float = 0.05, head_name: str | None = None, version: int | None = None):
        self.embed = Embed(model)
        self.head = head
        self.descriptions = descriptions
        self.temperature = zero_shot_temperature
        self.threshold = get_settings().none_threshold if threshold is None else threshold
        self.head_name = head_name
        self.version = version
        self._label_matrix: np.ndarray | None = None
        self._label_order: list[str] = []

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def zero_shot(cls, labels: LabelSpec, *, threshold: float | None = None, model: str | None = None,
                  temperature: float = 0.05) -> Classify:
        return cls(descriptions=_label_descriptions(labels), threshold=threshold, model=model,
                   zero_shot_temperature=temperature)

    @classmethod
    def fit(cls, texts: Sequence[str], labels: Sequence[str], *, name: str | None = None,
            threshold: float | None = None, model: str | None = None, c: float = 10.0,
            lexical: bool = True) -> Classify:
        """Train a head from labelled examples; with ``name`` it is saved as a new version in the data dir.

        ``lexical`` adds TF-IDF word features beside the embedding (see ``train.lexical``).
        """
        if isinstance(labels, str) or any(not isinstance(v, str) or not v.strip() for v in labels):
            raise InvalidInputError("labels must be a list of non-empty strings, one per text")
        skill = cls(threshold=threshold, model=model)
        batch, _ = clean(texts)
        x = skill.embed.vectors(batch)
        skill.head = LinearHead.fit(x, list(labels), c=c, texts=batch if lexical else None)
        if name:
            from slmkit.train.store import save_head

            record = save_head(name, skill.head, task="classify", encoder=skill.embed.model)
            skill.head_name, skill.version = record.name, record.version
        return skill

    @classmethod
    def load(cls, name: str, version: int | None = None, *, threshold: float | None = None) -> Classify:
        from slmkit.train.store import load_head

        head, record = load_head(name, version)
        return cls(head, threshold=threshold, model=record.encoder, head_name=record.name, version=record.version)

    # -- contract -----------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        if self.head is not None:
            return list(self.head.labels)
        return list(self.descriptions or {})

    def warm_up(self) -> Classify:
        self.embed.warm_up()
        if self.descriptions is not None and self._label_matrix is None:
            # Average the descriptions of each label into one prototype vector.
            self._label_order = list(self.descriptions)
            rows = [self.embed.vectors(self.descriptions[label]).mean(axis=0) for label in self._label_order]
            matrix = np.vstack(rows)
            self._label_matrix = matrix / np.linalg.norm(matrix, axis=1, keepdims=True)
        return self

    def probabilities(self, x: np.ndarray, texts: Sequence[str] | None = None) -> np.ndarray:
        """Class probabilities for embeddings ``x`` of ``texts``, columns in ``self.labels`` order."""
        if self.head is not None:
            return self.head.predict_proba(x, texts)
        if self.descriptions is None:
            raise InvalidInputError("this classifier has neither a trained head nor label descriptions")
        self.warm_up()
        assert self._label_matrix is not None
        return _softmax((x @ self._label_matrix.T) / self.temperature)

    def __call__(self, items: object) -> Classification | list[Classification]:
        batch, single = clean(items)
        self.warm_up()
        probs = self.probabilities(self.embed.vectors(batch), batch) if batch else np.zeros((0, len(self.labels)))
        labels = self.labels
        results = []
        for row in probs:
            best = int(row.argmax())
            score = float(row[best])
            results.append(Classification(
                label=labels[best] if score >= self.threshold else None,
                score=score,
                top=labels[best],
                scores={label: float(p) for label, p in zip(labels, row, strict=True)},
            ))
        return unbatch(results, single)
