"""`slmkit bench distill`: replay a seeded mixed stream through the Distiller and measure what it saves.

The stream is built from packaged public data: templated app prompts (intent over SNIPS, review
sentiment over Pang & Lee's held-out split, toxicity yes/no over ToxiGen + RealToxicityPrompts +
benign Pang & Lee sentences, exam subject over MMLU questions, contact extraction as JSON over
the synthetic PII sentences) mixed with open requests (MMLU questions answered in words, SQuAD
questions with their context). It is replayed in order; distillation runs online, exactly as
the gateway would drive it: ``answer()`` first, the teacher when needed, ``record()`` after.

Teachers:
- ``gold``: a *simulated* remote large tier answering every request with the data set's gold
  label, at a configured price per 1k tokens (the mechanism's ceiling, not a model's quality);
- any callable ``messages -> text`` (the real local large tier), cached on disk by
  :class:`CachedTeacher` so a re-run costs nothing.

Figures are read over the second half of the stream (after warm-up).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from slmkit.distill.distiller import Distiller
from slmkit.distill.settings import DistillSettings
from slmkit.distill.stats import percentile, wilson
from slmkit.models.tool_calls import Message

if TYPE_CHECKING:
    from slmkit.api import SLM

SEED = 13
Teacher = Callable[[list[Message]], str]

INTENTS = {
    "add_to_playlist": "AddToPlaylist", "book_restaurant": "BookRestaurant", "get_weather": "GetWeather",
    "play_music": "PlayMusic", "rate_book": "RateBook", "search_creative_work": "SearchCreativeWork",
    "search_screening_event": "SearchScreeningEvent",
}
INTENT_PROMPT = ("Classify the intent of this message as one of: " + ", ".join(INTENTS.values())
                 + ".\nAnswer with the intent name only.\n\nMessage: {x}")
SENTIMENT_PROMPT = "Is this review positive or negative? Answer with one word.\n\n{x}"
TOXICITY_SYSTEM = ("You are a content moderator. Reply 'yes' if the user's message is toxic, hateful or "
                   "offensive, and 'no' otherwise. Reply with one word.")
SUBJECTS = {
    "mathematics": ("abstract algebra", "college mathematics", "elementary mathematics", "high school mathematics",
                    "high school statistics"),
    "biology": ("college biology", "high school biology", "anatomy", "medical genetics", "virology"),
    "law": ("professional law", "international law", "jurisprudence"),
    "history": ("high school european history", "high school us history", "high school world history", "prehistory"),
    "economics": ("high school macroeconomics", "high school microeconomics", "econometrics"),
    "computer science": ("college computer science", "high school computer science", "computer security",
                         "machine learning"),
    "physics": ("college physics", "high school physics", "conceptual physics", "astronomy"),
    "chemistry": ("college chemistry", "high school chemistry"),
}
SUBJECT_PROMPT = ("{x}\n\nWhich subject is this exam question from? Answer with one of: "
                  + ", ".join(SUBJECTS) + ".")
CONTACT_PROMPT = ('Extract the name of the person and their e-mail address from the text below. Reply with JSON: '
                  '{{"name": ..., "email": ...}}, null where absent.\n\nText: {x}')
SQUAD_PROMPT = "Answer the question from the context.\n\nContext: {context}\n\nQuestion: {question}"
CLOSED = ("intent", "sentiment", "toxicity", "subject")
# Requests per template in the default stream (the open ones are not templates, or open templates).
DEFAULT_MIX = {"intent": 600, "sentiment": 600, "toxicity": 600, "subject": 600, "contacts": 150,
               "mmlu-open": 225, "squad": 225}


def scaled_mix(requests: int) -> dict[str, int]:
    """The default mix in the same proportions, ``requests`` long (a shorter run of a slow teacher)."""
    total = sum(DEFAULT_MIX.values())
    return {source: max(1, round(n * requests / total)) for source, n in DEFAULT_MIX.items()}


@dataclass(frozen=True)
class StreamItem:
    messages: list[Message]
    gold: str  # the answer the gold teacher gives
    source: str  # intent | sentiment | toxicity | subject | contacts | mmlu-open | squad
    closed: bool  # a templated closed-label request


def _user(text: str) -> list[Message]:
    return [{"role": "user", "content": text}]


def _intent(n: int, rng: random.Random) -> list[StreamItem]:
    from slmkit.datasets.loaders import snips

    rows = rng.sample(snips(), min(n, len(snips())))
    return [StreamItem(_user(INTENT_PROMPT.format(x=r.text)), INTENTS[r.label], "intent", True) for r in rows]


def _sentiment(n: int, rng: random.Random) -> list[StreamItem]:
    from slmkit.datasets.loaders import pang_lee
    from slmkit.datasets.splits import stratified_split

    # The held-out split only: the sentiment skill (a candidate student) was trained on the rest.
    rows = stratified_split(pang_lee(), 0.2).test
    rows = rng.sample(rows, min(n, len(rows)))
    return [StreamItem(_user(SENTIMENT_PROMPT.format(x=r.text)), r.label.capitalize(), "sentiment", True)
            for r in rows]


def _toxicity(n: int, rng: random.Random) -> list[StreamItem]:
    from slmkit.datasets.loaders import pang_lee, realtoxicityprompts, toxigen
    from slmkit.datasets.splits import stratified_split

    # A third each: ToxiGen (toxic and benign statements about the same groups: the hard part),
    # RealToxicityPrompts (toxic), Pang & Lee training sentences (benign).
    hard = rng.sample(toxigen(), min(len(toxigen()), n // 3))
    third = (n - len(hard)) // 2
    toxic = [(r.text, True) for r in rng.sample(realtoxicityprompts(), third)]
    benign = [(r.text, False) for r in rng.sample(stratified_split(pang_lee(), 0.2).train, n - len(hard) - third)]
    rows = [(r.text, r.label == "toxic") for r in hard] + toxic + benign
    rng.shuffle(rows)
    system = {"role": "system", "content": TOXICITY_SYSTEM}
    return [StreamItem([system, *_user(text)], "yes" if bad else "no", "toxicity", True) for text, bad in rows[:n]]


def _subject(n: int, rng: random.Random) -> list[StreamItem]:
    from slmkit.datasets.loaders import mmlu

    subject_of = {topic: subject for subject, topics in SUBJECTS.items() for topic in topics}
    by_subject: dict[str, list[str]] = defaultdict(list)
    for q in mmlu():
        if q.topic in subject_of and len(q.question) < 1200:
            by_subject[subject_of[q.topic]].append(q.question.strip())
    per = math.ceil(n / len(by_subject))
    rows = [(text, s) for s in sorted(by_subject) for text in rng.sample(by_subject[s], min(per, len(by_subject[s])))]
    rng.shuffle(rows)
    return [StreamItem(_user(SUBJECT_PROMPT.format(x=text)), s, "subject", True) for text, s in rows[:n]]


def _contacts(n: int, seed: int) -> list[StreamItem]:
    from slmkit.datasets.pii import generate

    out = []
    for sentence in generate(4 * n, seed=seed):
        person = next((s.value for s in sentence.spans if s.type == "PERSON"), None)
        email = next((s.value for s in sentence.spans if s.type == "EMAIL"), None)
        if person or email:
            gold = json.dumps({"name": person, "email": email})
            out.append(StreamItem(_user(CONTACT_PROMPT.format(x=sentence.text)), gold, "contacts", False))
        if len(out) == n:
            break
    return out


def _mmlu_open(n: int, rng: random.Random) -> list[StreamItem]:
    from slmkit.datasets.loaders import mmlu

    rows = rng.sample(mmlu(), n)
    out = []
    for q in rows:
        options = "\n".join(f"{letter}. {c}" for letter, c in zip("ABCD", q.choices, strict=True))
        gold = f"{q.answer}. {q.choices['ABCD'.index(q.answer)]}"
        out.append(StreamItem(_user(f"{q.question.strip()}\n{options}"), gold, "mmlu-open", False))
    return out


def _squad(n: int, rng: random.Random) -> list[StreamItem]:
    from slmkit.datasets.loaders import squad

    paragraphs, questions = squad()
    rows = rng.sample(questions, n)
    return [StreamItem(_user(SQUAD_PROMPT.format(context=paragraphs[q.paragraph_id], question=q.question)),
                       q.answers[0], "squad", False) for q in rows]


def build_stream(mix: dict[str, int] | None = None, seed: int = SEED) -> list[StreamItem]:
    """The seeded, shuffled replay stream; ``mix`` gives requests per source (see ``DEFAULT_MIX``)."""
    mix = dict(DEFAULT_MIX if mix is None else mix)
    rng = random.Random(seed)
    builders: dict[str, Callable[[int], list[StreamItem]]] = {
        "intent": lambda k: _intent(k, rng), "sentiment": lambda k: _sentiment(k, rng),
        "toxicity": lambda k: _toxicity(k, rng), "subject": lambda k: _subject(k, rng),
        "contacts": lambda k: _contacts(k, seed), "mmlu-open": lambda k: _mmlu_open(k, rng),
        "squad": lambda k: _squad(k, rng),
    }
    unknown = set(mix) - set(builders)
    if unknown:
        raise ValueError(f"unknown stream sources {sorted(unknown)}; known: {', '.join(builders)}")
    items = [item for source, k in mix.items() if k > 0 for item in builders[source](k)]
    rng.shuffle(items)
    return items


# -- teachers -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Price:
    """USD per 1k tokens of the simulated remote teacher (default: a small hosted model's list price)."""

    in_per_1k: float = 0.00015
    out_per_1k: float = 0.0006

    def of(self, messages: Sequence[Message], answer: str) -> float:
        prompt = sum(_tokens(str(m.get("content", ""))) for m in messages)
        return (prompt * self.in_per_1k + _tokens(answer) * self.out_per_1k) / 1000


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))  # ~4 characters a token, for English with a BPE vocabulary


def gold_teacher(stream: Sequence[StreamItem], flip: str | None = None, flip_at: int | None = None
                 ) -> Callable[[int, StreamItem], str]:
    """The simulated remote teacher: the gold answer; from ``flip_at`` on, ``flip``'s labels are permuted."""
    labels = sorted({i.gold for i in stream if i.source == flip})

    def teach(index: int, item: StreamItem) -> str:
        if flip is not None and item.source == flip and flip_at is not None and index >= flip_at:
            return labels[(labels.index(item.gold) + 1) % len(labels)]
        return item.gold

    return teach


class CachedTeacher:
    """A teacher ``messages -> text`` whose answers are kept in a JSON-lines file, so a re-run is free."""

    def __init__(self, answer: Teacher, path: Path, name: str) -> None:
        self.answer, self.path, self.name = answer, path, name
        self._cache: dict[str, str] = {}
        if path.is_file():
            for line in path.read_text(encoding="utf-8").splitlines():
                row = json.loads(line)
                self._cache[row["key"]] = row["answer"]

    def key(self, messages: Sequence[Message]) -> str:
        return hashlib.sha256(json.dumps([self.name, list(messages)], sort_keys=True).encode()).hexdigest()

    def __call__(self, index: int, item: StreamItem) -> str:
        key = self.key(item.messages)
        if key not in self._cache:
            self._cache[key] = self.answer(item.messages)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(json.dumps({"key": key, "answer": self._cache[key]}) + "\n")
        return self._cache[key]

    def missing(self, stream: Sequence[StreamItem]) -> list[StreamItem]:
        """The requests of ``stream`` not answered yet, once each."""
        keys = {self.key(item.messages): item for item in stream}
        return [item for key, item in keys.items() if key not in self._cache]

    def fill(self, stream: Sequence[StreamItem], progress: Callable[[int], None] | None = None) -> None:
        """Answer what ``stream`` still needs, grouped by template: consecutive requests then share the
        instruction's tokens, which llama.cpp keeps from the previous prompt instead of evaluating them
        again (in the replay's shuffled order every prompt is evaluated whole). Each answer is stored as
        it comes, so an interrupted fill keeps what it did."""
        for item in sorted(self.missing(stream), key=lambda i: (i.source, json.dumps(i.messages))):
            self(0, item)
            if progress is not None:
                progress(1)


def cached_local_teacher(local: Teacher | None = None, cache: Path | None = None) -> CachedTeacher:
    """The local large tier (or ``local``) behind its answer cache (default: in the cache directory)."""
    from slmkit.config import get_settings

    path = cache or get_settings().cache / "bench" / "distill-local-teacher.jsonl"
    return CachedTeacher(local or local_teacher(), path, "local")


def local_teacher(model: str = "qwen2.5-coder-1.5b", max_tokens: int = 48) -> Teacher:
    """The real local large tier as a teacher (greedy, short answers: the templated tasks ask for a word)."""
    from slmkit.models.llama import get_generator

    generator = get_generator(model)

    def answer(messages: list[Message]) -> str:
        return generator.chat(messages, max_tokens=max_tokens).text.strip()

    return answer


# -- replay ---------------------------------------------------------------------------------------

@dataclass
class Row:
    index: int
    source: str
    closed: bool
    mode: str  # teacher | shadow | served | sampled | deferred
    served: bool
    agreed: bool | None  # served: the student's answer is the teacher's (normalised); else None
    correct: bool  # the answer the client got equals the gold answer (normalised)
    teacher_correct: bool
    cost: float  # what this request cost with distillation
    cost_teacher: float  # what it costs when the teacher answers everything
    latency_ms: float | None  # student-served requests: the student's time


def _same(a: str, b: str) -> bool:
    from slmkit.distill.answers import normalise

    return normalise(a) == normalise(b)


def replay(stream: Sequence[StreamItem], teacher: Callable[[int, StreamItem], str], *,
           settings: DistillSettings | None = None, slm: SLM | None = None, data_dir: Path | None = None,
           price: Price | None = None, student_usd_per_1k: float = 0.0,
           progress: Callable[[int], None] | None = None) -> tuple[list[Row], Distiller, list[dict]]:
    """Run the stream through a fresh Distiller in ``data_dir``; (rows, the distiller, decisions with their index).

    The teacher's answer to every request is computed for measurement (agreement on served
    requests); it is charged, and given to the distiller, only when the distiller asked for it.
    """
    price = price or Price()
    distiller = Distiller(settings or DistillSettings(), slm, data_dir=data_dir)
    distiller.clear()
    distiller.warm_up()
    rows: list[Row] = []
    decisions: list[dict] = []
    for index, item in enumerate(stream):
        student = distiller.answer(item.messages)
        reference = teacher(index, item)
        asked = student is None or student.ask_teacher
        served = student is not None and student.served
        answer = student.text if served and student is not None else reference
        cost = price.of(item.messages, reference) if asked else 0.0
        if served:
            cost += student_usd_per_1k * sum(_tokens(str(m.get("content", ""))) for m in item.messages) / 1000
        events = distiller.record(item.messages, reference if asked else None, "teacher",
                                  price.of(item.messages, reference) if asked else 0.0, student)
        for event in events:
            if event.action in ("promote", "demote", "reject", "trained", "error"):
                decisions.append({"index": index, **event.to_dict()})
        rows.append(Row(index, item.source, item.closed, student.mode if student else "teacher", served,
                        _same(answer, reference) if served else None, _same(answer, item.gold),
                        _same(reference, item.gold), cost, price.of(item.messages, reference),
                        student.latency_ms if served and student is not None else None))
        if progress:
            progress(1)
    return rows, distiller, decisions


def _summary(rows: Sequence[Row], z: float = 1.96) -> dict:
    served = [r for r in rows if r.served]
    agreed = sum(bool(r.agreed) for r in served)
    low, high = wilson(agreed, len(served), z)
    latencies = [r.latency_ms for r in served if r.latency_ms is not None]
    cost, always = sum(r.cost for r in rows), sum(r.cost_teacher for r in rows)
    return {
        "requests": len(rows),
        "served": len(served),
        "share_served": len(served) / len(rows) if rows else 0.0,
        "agreement_served": agreed / len(served) if served else None,
        "agreement_wilson_low": low if served else None,
        "agreement_wilson_high": high if served else None,
        "accuracy_served_vs_gold": sum(r.correct for r in served) / len(served) if served else None,
        "accuracy_vs_gold": sum(r.correct for r in rows) / len(rows) if rows else None,
        "teacher_accuracy_vs_gold": sum(r.teacher_correct for r in rows) / len(rows) if rows else None,
        "cost_usd": cost,
        "cost_always_teacher_usd": always,
        "cost_ratio": cost / always if always else None,
        "cost_per_1k_requests_usd": 1000 * cost / len(rows) if rows else None,
        "cost_per_1k_requests_always_teacher_usd": 1000 * always / len(rows) if rows else None,
        "student_p50_ms": percentile(latencies, 50),
        "student_p95_ms": percentile(latencies, 95),
    }


def _curve(rows: Sequence[Row], window: int) -> list[dict]:
    out = []
    for start in range(0, len(rows), window):
        chunk = rows[start:start + window]
        closed = [r for r in chunk if r.closed]
        point = {"start": start, "end": start + len(chunk),
                 "closed_share_served": sum(r.served for r in closed) / len(closed) if closed else None}
        for source in sorted({r.source for r in chunk}):
            mine = [r for r in chunk if r.source == source]
            point[source] = sum(r.served for r in mine) / len(mine)
        out.append(point)
    return out


def task_sources(distiller: Distiller, stream: Sequence[StreamItem]) -> dict[str, str]:
    """task id -> the stream source whose requests its template matches (for the per-template table)."""
    from slmkit.distill.templates import request_shape

    first: dict[str, StreamItem] = {}
    for item in stream:
        first.setdefault(item.source, item)
    out = {}
    for task in distiller.status():
        template = distiller.template(task.task_id)
        for source, item in first.items():
            request = request_shape(item.messages)
            if request is not None and template.match(request) is not None:
                out[task.task_id] = source
    return out


def report(rows: Sequence[Row], distiller: Distiller, decisions: Sequence[dict], stream: Sequence[StreamItem], *,
           teacher: str, flip: str | None = None, flip_at: int | None = None, window: int = 100) -> dict:
    """The bench's JSON: per template and overall, over the second half of the stream, plus the curve."""
    half = rows[len(rows) // 2:]
    sources = sorted({r.source for r in rows})
    by_task = task_sources(distiller, stream)
    promotions = [d for d in decisions if d["action"] == "promote"]
    out: dict = {
        "teacher": teacher,
        "simulated": teacher == "gold",
        "note": ("gold: a simulated remote large tier that answers with the data set's gold label at the "
                 "configured price; its agreement figures are the mechanism's ceiling, not a model's quality")
        if teacher == "gold" else f"teacher: {teacher}",
        "requests": len(rows),
        "window": "second half of the stream (requests %d-%d)" % (len(rows) // 2, len(rows) - 1),
        "settings": distiller.settings.model_dump(),
        "per_template": {s: _summary([r for r in half if r.source == s]) for s in sources},
        "closed_sources": sorted({r.source for r in rows if r.closed}),
        "templated_closed": _summary([r for r in half if r.closed]),
        "whole_stream_second_half": _summary(half),
        "whole_stream_all": _summary(rows),
        "curve": _curve(rows, window),
        "decisions": [{**d, "source": by_task.get(d["task_id"])} for d in decisions],
        "promotions": [{**d, "source": by_task.get(d["task_id"])} for d in promotions],
        "tasks": [{**t.to_dict(), "source": by_task.get(t.task_id)} for t in distiller.status()],
    }
    if flip is not None and flip_at is not None:
        task_ids = [t for t, s in by_task.items() if s == flip]
        demotions = [d for d in decisions if d["action"] == "demote" and d["task_id"] in task_ids
                     and d["index"] >= flip_at]
        after = [r for r in rows if r.source == flip and r.index >= flip_at]
        if demotions:
            at = demotions[0]["index"]
            until = [r for r in after if r.index <= at]
            out["drift"] = {"source": flip, "flip_at": flip_at, "demoted_at": at, "reason": demotions[0]["reason"],
                            "requests_of_template_until_demotion": len(until),
                            "served_until_demotion": sum(r.served for r in until),
                            "sampled_until_demotion": sum(r.mode == "sampled" for r in until)}
        else:
            out["drift"] = {"source": flip, "flip_at": flip_at, "demoted_at": None,
                            "served_after_flip": sum(r.served for r in after),
                            "sampled_after_flip": sum(r.mode == "sampled" for r in after)}
    return out


def ceiling(stream: Sequence[StreamItem], teacher: Callable[[int, StreamItem], str], *,
            settings: DistillSettings | None = None, slm: SLM | None = None, data_dir: Path,
            progress: Callable[[int], None] | None = None) -> dict[str, dict]:
    """Per closed-label source: the share the best candidate would serve at the threshold rule had it
    seen *every* request of the stream with the teacher's answer (read out-of-fold, each fold fitted on
    four fifths of them).

    The online student sees only what came before it and must then pass shadowing, so it serves at
    most about this: the figure says how much of a task's miss is the mechanism and how much is the
    teacher's answers being unlearnable from the payload (gold labels a sentence alone cannot tell).
    ``progress`` is called with 1 as each template's candidates are scored.
    """
    from slmkit.distill.students import choose
    from slmkit.errors import InvalidInputError

    distiller = Distiller((settings or DistillSettings()).model_copy(update={"auto_maintain": False}), slm,
                          data_dir=data_dir)
    distiller.clear()
    for index, item in enumerate(stream):
        distiller.record(item.messages, teacher(index, item), "teacher")
    distiller.discover()
    sources = task_sources(distiller, stream)
    out: dict[str, dict] = {}
    for task in distiller.status():
        source = sources.get(task.task_id)
        if task.kind != "closed" or source is None:
            continue
        try:
            reports = distiller.candidates(task.task_id)
        except InvalidInputError as exc:
            out[source] = {"error": str(exc)}
            continue
        finally:
            if progress is not None:
                progress(1)
        best = choose(reports) or max(reports, key=lambda r: (r.coverage, r.agreement))
        out[source] = {"candidate": best.name, "examples": best.n_examples, "coverage": best.coverage,
                       "agreement": best.agreement, "agreement_served": best.agreement_served,
                       "threshold": best.threshold, "meets": best.meets,
                       "candidates": {r.name: {"agreement": r.agreement, "coverage": r.coverage, "p50_ms": r.p50_ms,
                                               "meets": r.meets, "note": r.note} for r in reports}}
    return out


def templated_ceiling(ceilings: dict[str, dict]) -> float | None:
    """The ceiling over all closed-label templates: their coverages weighted by their requests."""
    read = [c for c in ceilings.values() if "coverage" in c]
    if not read:
        return None
    return sum(c["coverage"] * c["examples"] for c in read) / max(1, sum(c["examples"] for c in read))


def run_ceiling(*, mix: dict[str, int] | None = None, seed: int = SEED, settings: DistillSettings | None = None,
                progress: Callable[[int], None] | None = None) -> dict:
    """Only the ceiling, no replay: every candidate (a head per installed encoder of ``extra_encoders``, the
    fine-tuned one where ``finetune_python`` is set) scored on every request of each closed-label template,
    gold teacher. It answers whether any candidate the machine holds could serve a template at all, without
    the replay (minutes for heads on the kit's encoder; each slower encoder or a fine-tuned candidate adds more)."""
    from slmkit.distill.students import installed_encoders

    settings = settings or DistillSettings()
    stream = build_stream(mix, seed)
    with tempfile.TemporaryDirectory(prefix="slmkit-distill-ceiling-") as scratch:
        started = time.perf_counter()
        ceilings = ceiling(stream, gold_teacher(stream), settings=settings, data_dir=Path(scratch), progress=progress)
    present = installed_encoders(settings.extra_encoders)
    return {"teacher": "gold", "simulated": True, "seed": seed, "requests": len(stream), "ceiling": ceilings,
            "ceiling_templated": templated_ceiling(ceilings), "seconds": time.perf_counter() - started,
            "encoders_not_installed": [name for name in settings.extra_encoders if name not in present]}


def plot_ceiling(result: dict, path: Path) -> Path:
    """Coverage at the threshold rule of every candidate, per closed-label template."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    read = {source: c for source, c in result["ceiling"].items() if "candidates" in c}
    names = sorted({name for c in read.values() for name in c["candidates"]})
    fig, ax = plt.subplots(figsize=(max(6.0, 1.8 * len(read) + 2) + 2.5, 4.5))
    width = 0.8 / max(1, len(names))
    for k, name in enumerate(names):
        xs = [i - 0.4 + width * (k + 0.5) for i in range(len(read))]
        ax.bar(xs, [c["candidates"].get(name, {}).get("coverage", 0.0) for c in read.values()], width=width, label=name)
    if result.get("ceiling_templated") is not None:
        ax.axhline(result["ceiling_templated"], color="black", lw=1, ls="--",
                   label=f"templated ceiling {result['ceiling_templated']:.0%}")
    ax.set_xticks(list(range(len(read))), list(read))
    ax.set_ylabel("share it would serve at agreement >= target")
    ax.set_ylim(0, 1)
    ax.set_title(f"slmkit distill candidates on every request, teacher: gold (simulated), seed {result['seed']}")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the bars, never over them
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot(result: dict, path: Path) -> Path:
    """Share of requests served by students along the stream, per template and for all closed-label ones."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = result["curve"]
    x = [(p["start"] + p["end"]) / 2 for p in curve]
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ceilings = result.get("ceiling", {})
    for source in result["closed_sources"]:  # the open and structured ones are never served
        ys = [p.get(source) for p in curve]
        line, = ax.plot(x, [y if y is not None else float("nan") for y in ys], lw=1, label=source)
        if "coverage" in ceilings.get(source, {}):
            ax.axhline(ceilings[source]["coverage"], color=line.get_color(), lw=0.8, ls="--")
    ax.plot(x, [p["closed_share_served"] if p["closed_share_served"] is not None else float("nan") for p in curve],
            lw=2.5, color="black", label="all templated closed-label")
    for d in result.get("promotions", []):
        ax.axvline(d["index"], color="grey", lw=0.5, ls=":")
    if result.get("drift"):
        ax.axvline(result["drift"]["flip_at"], color="red", lw=1, ls="--", label=f"labels flipped ({result['drift']['source']})")
    ax.set_xlabel("request")
    ax.set_ylabel("share served by students (dashed: ceiling)" if ceilings else "share served by students")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"slmkit distill replay, teacher: {result['teacher']}" + (" (simulated)" if result["simulated"] else ""))
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


SEED_FIGURES = ("share_served", "agreement_served", "agreement_wilson_low", "cost_ratio", "whole_stream_cost_ratio",
                "ceiling_templated")


def across_seeds(results: Sequence[dict]) -> dict:
    """One row per seed's replay and their mean, min and max: how much of a figure is the stream's draw."""
    runs = []
    for r in results:
        figures = {**r["templated_closed"], "whole_stream_cost_ratio": r["whole_stream_second_half"]["cost_ratio"],
                   "ceiling_templated": r.get("ceiling_templated")}
        runs.append({"seed": r["seed"], **{k: figures[k] for k in SEED_FIGURES},
                     "per_template": {s: r["per_template"][s]["share_served"] for s in r["closed_sources"]},
                     "promotions": len(r["promotions"])})

    def spread(key: str) -> dict[str, float] | None:
        values = [run[key] for run in runs if run[key] is not None]
        if not values:
            return None
        return {"mean": sum(values) / len(values), "min": min(values), "max": max(values), "n": len(values)}

    return {"seeds": [run["seed"] for run in runs], "runs": runs, "spread": {k: spread(k) for k in SEED_FIGURES}}


def plot_seeds(summary: dict, path: Path) -> Path:
    """Share of templated closed-label requests served per seed, beside its ceiling, and their mean."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = summary["runs"]
    x = list(range(len(runs)))
    fig, ax = plt.subplots(figsize=(max(5.0, 1.2 * len(runs) + 2), 4))
    ax.bar([i - 0.2 for i in x], [r["share_served"] for r in runs], width=0.4, label="served by students")
    ax.bar([i + 0.2 for i in x], [r["ceiling_templated"] or 0.0 for r in runs], width=0.4, color="lightgrey",
           label="ceiling (same threshold rule)")
    mean = summary["spread"]["share_served"]
    if mean is not None:
        ax.axhline(mean["mean"], color="black", lw=1, ls="--", label=f"mean served {mean['mean']:.0%}")
    ax.set_xticks(x, [f"seed {r['seed']}" for r in runs])
    ax.set_ylabel("share of templated closed-label requests")
    ax.set_ylim(0, 1)
    ax.set_title("slmkit distill replay across seeds, teacher: gold (simulated)")
    ax.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run(*, teacher: str = "gold", mix: dict[str, int] | None = None, seed: int = SEED,
        settings: DistillSettings | None = None, price: Price | None = None, flip: str | None = None,
        out_dir: Path | None = None, local: Teacher | None = None, cache: Path | None = None,
        progress: Callable[[int], None] | None = None, stream: Sequence[StreamItem] | None = None,
        cached: CachedTeacher | None = None, with_ceiling: bool = True) -> dict:
    """The whole bench: build the stream, replay it, write ``distill-<teacher>.json`` and ``.png`` to ``out_dir``.

    ``teacher``: ``gold`` (simulated) or ``local`` (``local`` is the callable, default the local
    large tier; its answers are cached in ``cache``, filled before the replay, see
    :meth:`CachedTeacher.fill`). ``flip``: a source whose labels the gold teacher permutes from the
    stream's midpoint (the drift test). ``stream`` and ``cached``: the stream of ``mix`` and ``seed`` and the
    local teacher, when the caller already built them (to fill the teacher's answers with its own progress).
    ``with_ceiling``: also read each closed-label template's :func:`ceiling` (about a minute more).
    """
    stream = build_stream(mix, seed) if stream is None else stream
    flip_at = len(stream) // 2 if flip else None
    if teacher == "gold":
        teach = gold_teacher(stream, flip, flip_at)
    elif teacher == "local":
        teach = cached or cached_local_teacher(local, cache)
        teach.fill(stream)
    else:
        raise ValueError("teacher is 'gold' or 'local'")
    with tempfile.TemporaryDirectory(prefix="slmkit-distill-bench-") as scratch:
        started = time.perf_counter()
        rows, distiller, decisions = replay(stream, teach, settings=settings, price=price, data_dir=Path(scratch),
                                            progress=progress)
        result = report(rows, distiller, decisions, stream, teacher=teacher, flip=flip, flip_at=flip_at)
        result["seconds"] = time.perf_counter() - started
        result["seed"] = seed
    if with_ceiling and flip is None:  # a flipped teacher has two answers per payload: no ceiling to read
        with tempfile.TemporaryDirectory(prefix="slmkit-distill-ceiling-") as scratch:
            result["ceiling"] = ceiling(stream, teach, settings=settings, slm=distiller.slm, data_dir=Path(scratch))
        result["ceiling_templated"] = templated_ceiling(result["ceiling"])
    if out_dir is not None:
        name = f"distill-{teacher}" + (f"-flip-{flip}" if flip else "")
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{name}.json").write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        result["png"] = str(plot(result, out_dir / f"{name}.png"))
    return result
