"""Span-level evaluation: `slmkit eval entities` (CoNLL-2003) and `slmkit eval pii` (synthetic Presidio data).

Entities are scored the CoNLL way: a predicted entity counts only with the exact
token boundaries and the right type. PII is scored by character overlap: a gold
value is found when predicted spans of its type cover at least half of it, and
a predicted span is correct when at least half of it lies on gold of its type
(redaction cares that the value is hidden, not where the span ends exactly); a
DATE span lying on a date of birth is correct too.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

from slmkit.datasets.loaders import conll2003
from slmkit.datasets.pii import generate

Progress = Callable[[int], None]

# OntoNotes (spaCy) -> CoNLL-2003. GPE (countries, cities, states), LOC (mountains, rivers) and
# FAC (airports, buildings, roads) are all CoNLL LOC; NORP, events and products have no CoNLL
# PER/LOC/ORG counterpart and are not scored (CoNLL's MISC is left out of this evaluation).
ONTONOTES_TO_CONLL = {"PERSON": "PER", "GPE": "LOC", "LOC": "LOC", "FAC": "LOC", "ORG": "ORG"}
CONLL_TYPES = ("PER", "LOC", "ORG")
# en_core_web_sm 3.8.0's meta.json (its own OntoNotes 5 test): NER F 0.843; PERSON 0.880, ORG 0.770, GPE 0.897.
SPACY_PUBLISHED = {"dataset": "OntoNotes 5 (spaCy's evaluation, meta.json of en_core_web_sm 3.8.0)",
                   "ents_f": 0.8433, "PERSON": 0.8798, "ORG": 0.7699, "GPE": 0.8970}


@dataclass
class TypeScore:
    type: str
    gold: int
    predicted: int
    true_positive_gold: int  # gold spans found
    true_positive_predicted: int  # predicted spans that are right

    @property
    def recall(self) -> float:
        return self.true_positive_gold / self.gold if self.gold else 0.0

    @property
    def precision(self) -> float:
        return self.true_positive_predicted / self.predicted if self.predicted else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def to_dict(self) -> dict:
        return {**asdict(self), "precision": self.precision, "recall": self.recall, "f1": self.f1}


@dataclass
class SpanReport:
    name: str
    items: int
    scores: list[TypeScore]
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def micro(self) -> TypeScore:
        total = TypeScore("all", 0, 0, 0, 0)
        for s in self.scores:
            total.gold += s.gold
            total.predicted += s.predicted
            total.true_positive_gold += s.true_positive_gold
            total.true_positive_predicted += s.true_positive_predicted
        return total

    def to_dict(self) -> dict:
        return {"name": self.name, "items": self.items, "seconds": self.seconds,
                "per_type": [s.to_dict() for s in self.scores], "micro": self.micro.to_dict(), **self.extra}


# -- CoNLL-2003 entities ----------------------------------------------------------------------
def iob_spans(tags: Sequence[str]) -> set[tuple[int, int, str]]:
    """(first token, last token + 1, type) for each entity in IOB1 or IOB2 tags."""
    spans = set()
    start, kind = None, None
    for i, tag in enumerate([*tags, "O"]):
        prefix, _, t = tag.partition("-")
        begins = prefix == "B" or (prefix == "I" and t != kind)
        if kind is not None and (tag == "O" or begins):
            spans.add((start, i, kind))
            start, kind = None, None
        if tag != "O" and (begins or kind is None):
            start, kind = i, t
    return spans


def eval_entities(limit: int | None = None, progress: Progress | None = None) -> SpanReport:
    """spaCy's NER on the CoNLL-2003 English test split, entity-level for PER/LOC/ORG."""
    import time

    from spacy.tokens import Doc

    from slmkit.models.spacy_nlp import get_nlp

    sentences = conll2003("test")[:limit]
    nlp = get_nlp()
    counts = {t: TypeScore(t, 0, 0, 0, 0) for t in CONLL_TYPES}
    started = time.perf_counter()
    # The gold tokenisation is kept (Doc from words) so boundaries compare token for token.
    docs = (Doc(nlp.vocab, words=list(s.tokens)) for s in sentences)
    for sentence, doc in zip(sentences, nlp.pipe(docs, batch_size=256), strict=True):
        gold = {s for s in iob_spans(sentence.tags) if s[2] in CONLL_TYPES}
        predicted = {(e.start, e.end, ONTONOTES_TO_CONLL[e.label_]) for e in doc.ents if e.label_ in ONTONOTES_TO_CONLL}
        for kind in CONLL_TYPES:
            g = {s for s in gold if s[2] == kind}
            p = {s for s in predicted if s[2] == kind}
            counts[kind].gold += len(g)
            counts[kind].predicted += len(p)
            counts[kind].true_positive_gold += len(g & p)
            counts[kind].true_positive_predicted += len(g & p)
        if progress:
            progress(1)
    return SpanReport("en_core_web_sm on CoNLL-2003 test", len(sentences), list(counts.values()),
                      time.perf_counter() - started,
                      {"label_mapping": ONTONOTES_TO_CONLL, "published": SPACY_PUBLISHED})


# -- synthetic PII ----------------------------------------------------------------------------
# A date of birth is a date: a DATE prediction lying on one is right (the value is hidden as a
# date), but only a DATE_OF_BIRTH prediction finds a date of birth.
_ALSO_RIGHT_ON = {"DATE": ("DATE_OF_BIRTH",)}


def _covered(start: int, end: int, others: Sequence[tuple[int, int]]) -> int:
    return sum(max(0, min(end, e) - max(start, s)) for s, e in others)


def score_pii(gold: Sequence[Sequence[tuple[str, int, int]]], predicted: Sequence[Sequence[tuple[str, int, int]]],
              types: Sequence[str]) -> list[TypeScore]:
    counts = {t: TypeScore(t, 0, 0, 0, 0) for t in types}
    for g_spans, p_spans in zip(gold, predicted, strict=True):
        by_type_g: dict[str, list[tuple[int, int]]] = defaultdict(list)
        by_type_p: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for t, s, e in g_spans:
            by_type_g[t].append((s, e))
        for t, s, e in p_spans:
            by_type_p[t].append((s, e))
        for t in types:
            c = counts[t]
            for s, e in by_type_g[t]:
                c.gold += 1
                c.true_positive_gold += _covered(s, e, by_type_p[t]) * 2 >= (e - s)
            right_on = by_type_g[t] + [g for other in _ALSO_RIGHT_ON.get(t, ()) for g in by_type_g[other]]
            for s, e in by_type_p[t]:
                c.predicted += 1
                c.true_positive_predicted += _covered(s, e, right_on) * 2 >= (e - s)
    return list(counts.values())


def eval_pii(n: int = 1200, seed: int = 13, progress: Progress | None = None) -> tuple[SpanReport, dict]:
    """Detection per type on ``n`` seeded synthetic sentences, and what survives mask-mode redaction."""
    import time

    from slmkit.guard.redact import redact
    from slmkit.skills.pii import PII_TYPES, Pii

    sentences = generate(n, seed)
    pii = Pii().warm_up()
    started = time.perf_counter()
    predicted = []
    survivors: Counter[str] = Counter()
    for chunk in range(0, len(sentences), 64):
        batch = sentences[chunk:chunk + 64]
        for sentence, spans in zip(batch, pii([s.text for s in batch]), strict=True):
            predicted.append([(s.type, s.start, s.end) for s in spans])
            masked = redact(sentence.text, spans, "mask").text
            for g in sentence.spans:
                if g.value in masked:
                    survivors[g.type] += 1
        if progress:
            progress(len(batch))
    seconds = time.perf_counter() - started
    gold = [[(g.type, g.start, g.end) for g in s.spans] for s in sentences]
    types = [t for t in PII_TYPES if any(g[0] == t for spans in gold for g in spans)]
    report = SpanReport(f"pii on {n} synthetic sentences (seed {seed})", n, score_pii(gold, predicted, types),
                        seconds, {"ms_per_sentence": 1000 * seconds / n})
    return report, dict(survivors)


def print_spans(title: str, report: SpanReport, console, survivors: dict | None = None) -> None:
    from rich.table import Table

    table = Table(title=title)
    for col in ("type", "gold", "predicted", "precision", "recall", "F1"):
        table.add_column(col, justify="right" if col != "type" else "left")
    if survivors is not None:
        table.add_column("values left after mask", justify="right")
    for s in [*report.scores, report.micro]:
        row = [s.type, str(s.gold), str(s.predicted), f"{s.precision:.3f}", f"{s.recall:.3f}", f"{s.f1:.3f}"]
        if survivors is not None:
            row.append(str(survivors.get(s.type, 0)) if s.type != "all" else str(sum(survivors.values())))
        table.add_row(*row)
    console.print(table)
    console.print(f"{report.items} items in {report.seconds:.1f} s")
