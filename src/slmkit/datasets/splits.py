"""Seeded, stratified splits and samples of labelled text.

The seed is fixed so every report is reproducible and train and test never mix:
a head built on ``train`` and the evaluation scoring ``test`` draw the same split.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from slmkit.datasets.loaders import LabelledText

SEED = 13


@dataclass(frozen=True)
class Split:
    train: list[LabelledText]
    test: list[LabelledText]


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
