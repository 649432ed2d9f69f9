"""Recorded outcomes: how each local tier does on the same questions, the data routers learn from.

An MMLU question is answered by the log-probability of the letters A-D after the
question (one forward pass per tier, no free generation), so an outcome row keeps
both tiers' full answer distributions: accuracy, confidence and agreement can all be
derived later without running a model again. Rows are appended as they are made, so
an interrupted build resumes where it stopped.
"""

from __future__ import annotations

import json
import random
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from slmkit.config import get_settings
from slmkit.datasets.loaders import MultipleChoice, mmlu

LETTERS = ("A", "B", "C", "D")
_OPTIONS = [" A", " B", " C", " D"]  # after "Answer:" the letter comes with its space


@dataclass(frozen=True)
class Outcome:
    qid: int  # row in the MMLU file after dropping rows whose answer is not A-D
    topic: str
    question: str
    answer: str
    small: tuple[float, float, float, float]  # log-probabilities of A-D, small tier
    large: tuple[float, float, float, float]
    prompt_tokens: int
    small_ms: float
    large_ms: float

    @property
    def gold(self) -> int:
        return LETTERS.index(self.answer)


def mcq_prompt(q: MultipleChoice) -> str:
    """The classic MMLU zero-shot layout; the topic line is part of the question as users would ask it."""
    options = "\n".join(f"{letter}. {choice}" for letter, choice in zip(LETTERS, q.choices, strict=True))
    topic = q.topic.replace("_", " ")
    return f"The following is a multiple choice question about {topic}.\n\n{q.question.strip()}\n{options}\nAnswer:"


def query_text(q: MultipleChoice) -> str:
    """What a router sees: the question and its options, as a user would send them."""
    return q.question.strip() + "\n" + "\n".join(f"{letter}. {c}" for letter, c in zip(LETTERS, q.choices, strict=True))


def mmlu_sample(per_topic: int, seed: int = 13) -> list[tuple[int, MultipleChoice]]:
    """``per_topic`` questions from each of the 57 topics, chosen with ``seed``; (row id, question)."""
    by_topic: dict[str, list[tuple[int, MultipleChoice]]] = defaultdict(list)
    for i, q in enumerate(mmlu()):
        by_topic[q.topic].append((i, q))
    rng = random.Random(seed)
    picked = []
    for topic in sorted(by_topic):
        rows = by_topic[topic]
        picked.extend(rng.sample(rows, min(per_topic, len(rows))))
    return picked


def outcomes_path(small: str, large: str, per_topic: int, seed: int) -> Path:
    return get_settings().data_dir / "route" / f"mmlu-{small}-vs-{large}-{per_topic}pt-seed{seed}.jsonl"


def load_outcomes(path: Path) -> list[Outcome]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by an interrupted build: it is redone
        rows.append(Outcome(**{**data, "small": tuple(data["small"]), "large": tuple(data["large"])}))
    return rows


def build_outcomes(
    small: str,
    large: str,
    per_topic: int = 14,
    seed: int = 13,
    threads: int = 2,
    progress: Callable[[int], None] | None = None,
) -> tuple[Path, list[Outcome]]:
    """Run both tiers on a stratified MMLU sample; cached in the data directory, resumable."""
    from slmkit.models.catalog import get_spec
    from slmkit.models.llama import LlamaGenerator

    path = outcomes_path(small, large, per_topic, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    done = {o.qid: o for o in load_outcomes(path)} if path.is_file() else {}
    sample = mmlu_sample(per_topic, seed)
    if progress and done:
        progress(sum(1 for qid, _ in sample if qid in done))
    todo = [(qid, q) for qid, q in sample if qid not in done]
    if todo:
        # Rewrite the file without any torn last line before appending to it.
        path.write_text("".join(json.dumps(asdict(o)) + "\n" for o in done.values()), encoding="utf-8")
        tiers = [LlamaGenerator(get_spec(name), threads=threads, n_ctx=2048).warm_up() for name in (small, large)]
        with path.open("a", encoding="utf-8") as out:
            for qid, q in todo:
                prompt = mcq_prompt(q)
                scored, ms = [], []
                for tier in tiers:
                    started = time.perf_counter()
                    scored.append(tuple(round(x, 5) for x in tier.option_logprobs(prompt, _OPTIONS)))
                    ms.append(round(1000 * (time.perf_counter() - started), 1))
                row = Outcome(qid, q.topic, query_text(q), q.answer, scored[0], scored[1],
                              tiers[0].count_tokens(prompt), ms[0], ms[1])
                out.write(json.dumps(asdict(row)) + "\n")
                out.flush()
                done[qid] = row
                if progress:
                    progress(1)
    return path, [done[qid] for qid, _ in sample]
