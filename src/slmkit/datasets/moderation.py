"""The moderation rows: what the built moderation heads train on and `slmkit eval moderate` scores.

The data: ToxiGen (toxic and benign statements about identity groups, the hard,
domain-matched part), RealToxicityPrompts' challenging subsets (toxic, with a
category), and benign text from Pang & Lee, SNIPS and SQuAD questions, about as
much benign text as toxic. ToxiGen's benign statements talk about the same groups
as its toxic ones, so they are the negatives that punish a head which only learned
"mentions a minority" or "does not look like a movie review"; that is why the
evaluation reports the ToxiGen-only ROC-AUC apart from the overall one.

None of those benign sources sounds like the traffic a gateway sees (support tickets,
product questions, small talk, "kill the process"), and a head trained on them alone
flagged over a quarter of such text. So slmkit ships its own ordinary sentences
(``slmkit/data/ordinary_sentences.txt``) and, so that "sounds like a support ticket"
does not become "benign", their abusive counterpart (``abusive_sentences.txt``: threats
and insults aimed at staff or a shop). Each file is split in two halves by a hash of
each sentence: the train half joins the rows (sources ``ordinary`` and ``abusive``), the
held-out half is never trained or calibrated on and is only measured: the false-flag
rate on ordinary text, the recall on in-domain abuse.

The split is fixed (seed 13, 20% test, stratified by source and label) and the
built heads (``slmkit.skills.moderate.heads``) are fitted on the train part only. The
train halves of slmkit's own sentences are split on their own with the same seed, so
the rows of the public sources land where they did before those existed and figures
stay comparable.
"""

from __future__ import annotations

import hashlib
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources

import numpy as np

from slmkit.datasets.loaders import LabelledText, pang_lee, realtoxicityprompts, snips, squad, toxigen
from slmkit.datasets.splits import SEED, per_label_sample, stratified_split

MODERATION_TEST_FRACTION = 0.2
# Benign rows per other source: with ToxiGen's 100 benign this balances the ~800 toxic rows.
BENIGN_SAMPLE = {"pang-lee": 300, "snips": 200, "squad": 200}
ORDINARY, ABUSIVE = "ordinary", "abusive"  # source names of slmkit's own sentences, benign and toxic
OWN_FILES = {ORDINARY: "data/ordinary_sentences.txt", ABUSIVE: "data/abusive_sentences.txt"}  # package data


@dataclass(frozen=True)
class ModerationExample:
    text: str
    toxic: bool
    source: str  # toxigen, rtp, pang-lee, snips, squad, ordinary, abusive
    category: str | None = None  # the RealToxicityPrompts subset, for RTP rows

    @property
    def stratum(self) -> str:
        return f"{self.source}/{self.category or ('toxic' if self.toxic else 'benign')}"


@dataclass(frozen=True)
class ModerationSplit:
    train: list[ModerationExample]
    test: list[ModerationExample]


def moderation_examples(seed: int = SEED) -> list[ModerationExample]:
    """Every public row the heads and their evaluation draw on, deduplicated by text (first occurrence wins)."""
    rng = random.Random(seed)
    rows = [ModerationExample(e.text, e.label == "toxic", "toxigen") for e in toxigen()]
    rows += [ModerationExample(e.text, True, "rtp", e.label) for e in realtoxicityprompts()]
    reviews = per_label_sample(pang_lee(), BENIGN_SAMPLE["pang-lee"] // 2, seed)
    rows += [ModerationExample(e.text, False, "pang-lee") for e in reviews]
    rows += [ModerationExample(e.text, False, "snips") for e in rng.sample(snips(), BENIGN_SAMPLE["snips"])]
    questions = sorted({q.question.strip() for q in squad()[1]})
    rows += [ModerationExample(q, False, "squad") for q in rng.sample(questions, BENIGN_SAMPLE["squad"])]
    seen: set[str] = set()
    unique = []
    for row in rows:
        # RTP repeats some prompts across categories; one text must land on one side of the split.
        if row.text and row.text not in seen:
            seen.add(row.text)
            unique.append(row)
    return unique


def own_sentences(source: str) -> list[str]:
    """slmkit's own ``ordinary`` or ``abusive`` sentences, in file order (comment and blank lines skipped)."""
    text = resources.files("slmkit").joinpath(OWN_FILES[source]).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def own_fingerprint() -> str:
    """Digest of slmkit's own sentences, each tagged with its source: part of the built heads' cache key."""
    return fingerprint([f"{source}:{text}" for source in OWN_FILES for text in own_sentences(source)])


def is_held_out(text: str) -> bool:
    """The held-out half: decided by each sentence's own hash, so adding or editing a line
    never moves another sentence from one half to the other (a trained one into the measured half)."""
    return int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) % 2 == 1


def own_halves(source: str) -> tuple[list[str], list[str]]:
    """(train half, held-out half) of slmkit's own ``ordinary`` or ``abusive`` sentences."""
    sentences = own_sentences(source)
    return [t for t in sentences if not is_held_out(t)], [t for t in sentences if is_held_out(t)]


def split_examples(examples: Sequence[ModerationExample], test_fraction: float, seed: int = SEED) -> ModerationSplit:
    """Stratified by source and label (RTP by category), so every source and category reaches the test side."""
    by_text = {e.text: e for e in examples}
    split = stratified_split([LabelledText(e.text, e.stratum) for e in examples], test_fraction, seed)
    return ModerationSplit([by_text[e.text] for e in split.train], [by_text[e.text] for e in split.test])


def fold_rows(examples: Sequence[ModerationExample], k: int, seed: int = SEED) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train rows, held rows) index pairs over ``examples``, stratified like the split and seeded."""
    # scikit-learn takes about a second to import: only training pays for it, not every importer of the rows.
    from sklearn.model_selection import StratifiedKFold

    strata = [e.stratum for e in examples]
    return list(StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(strata)), strata))


def moderation_split() -> ModerationSplit:
    """The fixed train/test split: the built heads see ``train`` only, ``slmkit eval moderate`` scores ``test``.

    The train halves of slmkit's own sentences are split apart from the public sources (see the
    module docstring); the held-out halves are in neither side.
    """
    public = split_examples(moderation_examples(), MODERATION_TEST_FRACTION)
    seen = {e.text for e in public.train + public.test}
    rows = [ModerationExample(t, source == ABUSIVE, source)
            for source in (ORDINARY, ABUSIVE) for t in own_halves(source)[0] if t not in seen]
    own = split_examples(rows, MODERATION_TEST_FRACTION)
    return ModerationSplit(public.train + own.train, public.test + own.test)


def fingerprint(texts: Sequence[str]) -> str:
    """Order-free digest of a training set, recorded in the head so anyone can check what it saw."""
    digest = hashlib.sha256()
    for text in sorted(texts):
        digest.update(text.encode("utf-8") + b"\x00")
    return digest.hexdigest()


def label_counts(examples: Sequence[ModerationExample]) -> dict[str, int]:
    """Rows per stratum (source and label, RTP by category)."""
    return dict(Counter(e.stratum for e in examples))
