"""Public data off the encyclopaedic / movie-review distribution the specialists were built on.

Both ship inside ``bigbench==1.0.0`` (the archive the SNIPS and SQuAD loaders already read):

coqa      CoQA's published dev stories (700: children's stories, literature, exams, news, Reddit,
          science, Wikipedia), each with a conversation of questions; the first question of a
          conversation stands on its own, the later ones lean on it ("what did he do?").
multiemo  MultiEmo's English sentences (reviews of hotels, medicine, products, schools, translated
          from Polish): positive, negative, neutral or ambivalent. Used to *evaluate* sentiment only;
          nothing is trained on it, so it stays an off-distribution check.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from slmkit.datasets.archives import extract
from slmkit.datasets.loaders import BIGBENCH, LabelledText

_COQA = "bigbench/benchmark_tasks/coqa_conversational_question_answering/coqa.test.json"
_MULTIEMO = "bigbench/benchmark_tasks/multiemo/all_sentence_en/task.json"
# CoQA's sources that are neither encyclopaedic nor textbook prose: the second retrieval domain.
COQA_NARRATIVE = ("reddit", "mctest", "gutenberg", "race", "cnn")


@dataclass(frozen=True)
class Story:
    id: str
    source: str  # reddit, mctest, gutenberg, race, cnn, science, wikipedia
    text: str
    questions: tuple[str, ...]  # the conversation's questions, in turn order


def coqa(sources: tuple[str, ...] | None = COQA_NARRATIVE) -> list[Story]:
    """CoQA dev stories from ``sources`` (``None``: all seven), in file order."""
    path = extract(BIGBENCH, [_COQA])[_COQA]
    data = json.loads(path.read_text(encoding="utf-8"))["data"]
    out = []
    for row in data:
        if sources is not None and row["source"] not in sources:
            continue
        turns = sorted(row["questions"], key=lambda q: q["turn_id"])
        out.append(Story(row["id"], row["source"], row["story"], tuple(q["input_text"].strip() for q in turns)))
    return out


MULTIEMO_LABELS = ("positive", "negative", "neutral", "ambivalent")


def multiemo(n: int | None = 3000, seed: int = 13, labels: tuple[str, ...] = ("positive", "negative", "neutral"),
             ) -> list[LabelledText]:
    """A seeded sample of MultiEmo's English sentences with one of ``labels`` (balanced when ``n`` is set)."""
    path = extract(BIGBENCH, [_MULTIEMO])[_MULTIEMO]
    rows = json.loads(path.read_text(encoding="utf-8"))["examples"]
    by_label: dict[str, list[str]] = {label: [] for label in labels}
    for row in rows:
        label = max(row["target_scores"], key=row["target_scores"].get)
        text = row["input"].strip()
        if label in by_label and text:
            by_label[label].append(text)
    rng = random.Random(seed)
    out = []
    for label, texts in by_label.items():
        texts = sorted(set(texts))
        if n is not None:
            texts = rng.sample(texts, min(len(texts), n // len(labels)))
        out.extend(LabelledText(t, label) for t in texts)
    rng.shuffle(out)
    return out
