"""Students for closed-label tasks, and how one is picked from the candidates ("the model jungle").

Candidates, cheapest first:
- ``lexical``: a linear head on TF-IDF words of the payload alone (no encoder: ~0.1 ms);
- ``zero-shot``: the classify skill over the label names, no training (needs readable labels);
- ``sentiment``: the sentiment skill, its two outputs mapped to the task's two labels on the training rows;
- ``head``: a few-shot linear head on the payload embeddings plus TF-IDF words, as ``train_classifier`` fits;
  tried on the kit's encoder and on each of ``extra_encoders`` that is installed (encoders differ by
  task: on the replay bench multilingual-e5-small separates toxic from benign text better than MiniLM,
  and MiniLM tells exam subjects apart better), each a candidate of its own;
- ``finetune``: MiniLM and a linear layer trained end to end in a torch interpreter of its own
  (``finetune_python``), served with onnxruntime; minutes to fit, so scored on one held-out fold.

Each is scored by out-of-fold predictions over the captured examples it is given (``folds``-fold,
stratified: every example is predicted by a fit that did not see it, so small tasks are not judged
on a handful of held-out rows): agreement with the teacher, the lowest confidence threshold from
which the Wilson lower bound of agreement is still ``threshold_agreement`` (read at no more than
``threshold_evidence`` rows, see :func:`pick_threshold`), the share of requests it would then answer
(coverage), p50 latency and size. The student kept is the one that would answer
most requests (cost is what it saves: a request it does not answer goes to the teacher), the
cheaper one on near ties (the cheaper kind, unless it is more than twice as slow); it is then
fitted on every example.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from slmkit.distill.settings import Candidate, DistillSettings
from slmkit.distill.stats import percentile, wilson
from slmkit.distill.templates import PLACEHOLDER
from slmkit.errors import InvalidInputError, SlmkitError
from slmkit.models.catalog import get_spec
from slmkit.models.store import resolve
from slmkit.train.finetune import FineTunedClassifier, FineTuneSettings, finetune
from slmkit.train.heads import LinearHead

if TYPE_CHECKING:
    from slmkit.api import SLM

# Order of cost: the encoder-free student first. Near-equal coverage goes to the cheaper one.
COST_ORDER: tuple[Candidate, ...] = ("lexical", "zero-shot", "sentiment", "head", "finetune")
# The checkpoint a fine-tuned student starts from: the fp32 weights the kit's int8 MiniLM is derived from.
FINETUNE_BASE = "minilm-l6-fp32"
_COVERAGE_TIE = 0.02
_LATENCY_SLACK_MS = 1.0  # p50s this close count as equal (12 probes on a busy machine)
_LATENCY_PROBES = 12


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float


class Student(Protocol):
    kind: Candidate

    def warm_up(self) -> Student: ...

    def predict(self, payloads: Sequence[str]) -> list[Prediction]: ...


class Embedder:
    """Payload embeddings through one of the SLM's encoders (its default one unless ``model`` names another),
    with a bounded cache (retraining re-reads the same rows)."""

    def __init__(self, slm: SLM, model: str | None = None, max_items: int = 20_000) -> None:
        self.slm = slm
        self.model = model or slm.embed_model
        self.max_items = max_items
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the gateway answers from several threads

    def warm_up(self) -> Embedder:
        self.slm.encoder(self.model)
        return self

    def vectors(self, texts: Sequence[str], *, cache: bool = True) -> np.ndarray:
        with self._lock:
            known = {t: self._cache[t] for t in dict.fromkeys(texts) if cache and t in self._cache}
        missing = [t for t in dict.fromkeys(texts) if t not in known]
        if missing:
            found = self.slm.encoder(self.model)(missing)
            fresh = {t: e.vector for t, e in zip(missing, found, strict=True)}
            known.update(fresh)
            if cache:
                with self._lock:
                    self._cache.update(fresh)
                    while len(self._cache) > self.max_items:
                        self._cache.popitem(last=False)
        rows = [known[t] for t in texts]
        return np.vstack(rows).astype(np.float32) if rows else np.zeros((0, 0), dtype=np.float32)


def installed_encoders(names: Sequence[str]) -> list[str]:
    """The catalog encoders among ``names`` whose files are on this machine (an unknown name is an error)."""
    from slmkit.models.catalog import get_spec
    from slmkit.models.store import status

    specs = [get_spec(name) for name in names]
    wrong = [s.name for s in specs if s.task != "embed"]
    if wrong:
        raise InvalidInputError(f"distill.extra_encoders names models that are not encoders: {', '.join(wrong)}")
    return [s.name for s in specs if status(s).present]


def _predictions(head: LinearHead, probs: np.ndarray) -> list[Prediction]:
    best = probs.argmax(axis=1) if len(probs) else np.zeros(0, dtype=int)
    return [Prediction(head.labels[int(b)], float(row[int(b)])) for b, row in zip(best, probs, strict=True)]


class LexicalStudent:
    kind: Candidate = "lexical"

    def __init__(self, head: LinearHead) -> None:
        self.head = head

    @classmethod
    def fit(cls, payloads: Sequence[str], labels: Sequence[str], calibrate: bool = True) -> LexicalStudent:
        empty = np.zeros((len(payloads), 0), dtype=np.float32)
        return cls(LinearHead.fit(empty, list(labels), texts=list(payloads), calibrate=calibrate))

    def warm_up(self) -> LexicalStudent:
        return self

    def predict(self, payloads: Sequence[str]) -> list[Prediction]:
        empty = np.zeros((len(payloads), 0), dtype=np.float32)
        return _predictions(self.head, self.head.predict_proba(empty, list(payloads)))


class HeadStudent:
    kind: Candidate = "head"

    def __init__(self, head: LinearHead, embedder: Embedder) -> None:
        self.head = head
        self.embedder = embedder

    @classmethod
    def fit(cls, payloads: Sequence[str], labels: Sequence[str], embedder: Embedder, calibrate: bool = True
            ) -> HeadStudent:
        x = embedder.vectors(payloads)
        head = LinearHead.fit(x, list(labels), texts=list(payloads), calibrate=calibrate)
        head.meta["encoder"] = embedder.model
        return cls(head, embedder)

    def warm_up(self) -> HeadStudent:
        self.embedder.warm_up()
        return self

    def predict(self, payloads: Sequence[str], *, cache: bool = True) -> list[Prediction]:
        x = self.embedder.vectors(payloads, cache=cache)
        texts = list(payloads) if self.head.lexical is not None else None
        return _predictions(self.head, self.head.predict_proba(x, texts))


def describe_label(surface: str) -> str | None:
    """A readable description of a label for zero-shot ("BookRestaurant" -> "book restaurant"); None if opaque."""
    if PLACEHOLDER.search(surface):
        return None  # a masked value: nothing to compare the payload with
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", surface).replace("_", " ").replace("-", " ")
    words = " ".join(words.split()).lower()
    return words or None


class ZeroShotStudent:
    kind: Candidate = "zero-shot"

    def __init__(self, descriptions: dict[str, str], slm: SLM) -> None:
        self.descriptions = descriptions
        self.slm = slm

    @classmethod
    def build(cls, surface: dict[str, str], slm: SLM) -> ZeroShotStudent | None:
        descriptions = {label: describe_label(text) for label, text in surface.items()}
        if any(d is None for d in descriptions.values()) or len(set(descriptions.values())) < len(descriptions):
            return None
        return cls({k: v for k, v in descriptions.items() if v is not None}, slm)

    def warm_up(self) -> ZeroShotStudent:
        self.slm.classify(["warm up"], labels=self.descriptions)
        return self

    def predict(self, payloads: Sequence[str]) -> list[Prediction]:
        results = self.slm.classify(list(payloads), labels=self.descriptions, threshold=0.0)
        return [Prediction(r.top, r.score) for r in results]


class SentimentStudent:
    """The sentiment skill, its positive/negative mapped onto a two-label task by the training rows."""

    kind: Candidate = "sentiment"

    def __init__(self, mapping: dict[str, str], slm: SLM) -> None:
        self.mapping = mapping
        self.slm = slm

    @classmethod
    def fit(cls, payloads: Sequence[str], labels: Sequence[str], slm: SLM) -> SentimentStudent | None:
        if len(set(labels)) != 2:
            return None
        votes: dict[str, Counter[str]] = defaultdict(Counter)
        for result, label in zip(slm.sentiment(list(payloads)), labels, strict=True):
            votes[result.label][label] += 1
        mapping = {out: counts.most_common(1)[0][0] for out, counts in votes.items()}
        if len(mapping) != 2 or len(set(mapping.values())) != 2:
            return None  # both outputs mean the same label: the skill does not answer this task
        return cls(mapping, slm)

    def warm_up(self) -> SentimentStudent:
        self.slm.warm_up("sentiment")
        return self

    def predict(self, payloads: Sequence[str]) -> list[Prediction]:
        return [Prediction(self.mapping[r.label], r.score) for r in self.slm.sentiment(list(payloads))]


class FineTunedStudent:
    """An encoder fine-tuned with its linear layer on the task (``slmkit.train.finetune``)."""

    kind: Candidate = "finetune"

    def __init__(self, classifier: FineTunedClassifier) -> None:
        self.classifier = classifier

    def warm_up(self) -> FineTunedStudent:
        self.classifier.warm_up()
        return self

    def predict(self, payloads: Sequence[str]) -> list[Prediction]:
        probs = self.classifier.predict_proba(payloads)
        return [Prediction(self.classifier.labels[int(p.argmax())], float(p.max())) for p in probs]


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Fit heads with one BLAS thread: on small problems on a busy 2-core machine, OpenBLAS's
    threads mostly wait for each other (measured: a 150-example head fit 5.7 s with 2 threads,
    0.47 s with 1)."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield


# -- choosing -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CandidateReport:
    kind: Candidate
    n_examples: int
    folds: int  # out-of-fold predictions for trained kinds; 1 for kinds that learn nothing per example
    agreement: float  # out-of-fold agreement with the teacher on every example
    threshold: float  # confidence from which it answers
    coverage: float  # share of examples at or above the threshold
    agreement_served: float  # out-of-fold agreement on that share
    lower_served: float  # its Wilson lower bound
    p50_ms: float
    size_bytes: int
    meets: bool
    note: str = ""
    encoder: str | None = None  # the embeddings a head reads

    @property
    def name(self) -> str:
        """The candidate as tables and reasons print it: ``head (e5-small-multilingual)``, ``lexical``."""
        return f"{self.kind} ({self.encoder})" if self.encoder else self.kind

    def to_dict(self) -> dict:
        return asdict(self)


def fold_of(examples: Sequence[tuple[str, str]], folds: int, seed: int) -> list[int]:
    """A fold per example, dealt round-robin within each label after a seeded shuffle (stratified)."""
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, (_, label) in enumerate(examples):
        by_label[label].append(i)
    rng = random.Random(seed)
    out = [0] * len(examples)
    for label in sorted(by_label):
        rows = by_label[label][:]
        rng.shuffle(rows)
        for k, i in enumerate(rows):
            out[i] = k % folds
    return out


def pick_threshold(confidences: Sequence[float], correct: Sequence[bool], target: float, z: float,
                   evidence: int | None = None) -> tuple[float, float, float, float]:
    """(threshold, coverage, agreement, its Wilson lower bound): the lowest confidence from which the
    Wilson lower bound of agreement is still ≥ ``target``. Equal confidences are served together.

    A lower bound rather than the observed share: the share is chosen here, on these very rows,
    and a point estimate picked for maximum coverage is an optimistic one. ``evidence``: the bound
    is taken as if at most that many rows had been seen, at the rate observed. With many rows a
    Wilson bound of 0.95 admits an agreement of 0.96, which shadow traffic (a few dozen comparisons
    that must themselves reach a bound of 0.95) would rarely confirm; capped, a threshold is kept
    only where the agreement would pass that test. None: (1.01, 0, 0, 0).
    """
    order = np.argsort(-np.asarray(confidences, dtype=np.float64), kind="stable")
    conf = np.asarray(confidences, dtype=np.float64)[order]
    ok = np.asarray(correct, dtype=np.float64)[order]
    best = (1.01, 0.0, 0.0, 0.0)
    hits = 0
    for k in range(len(conf)):
        hits += int(ok[k])
        if k + 1 < len(conf) and conf[k + 1] == conf[k]:
            continue
        n = k + 1
        scale = min(1.0, evidence / n) if evidence else 1.0
        low = wilson(hits * scale, n * scale, z)[0]
        if low >= target:
            best = (float(conf[k]), n / len(conf), hits / n, low)
    return best


@dataclass
class Trained:
    """A candidate fitted on every example, with its report from out-of-fold predictions."""

    student: Student
    report: CandidateReport


def _fit(kind: Candidate, payloads: list[str], labels: list[str], surface: dict[str, str], slm: SLM,
         embedder: Embedder) -> Student | None:
    # Uncalibrated: the threshold is read off out-of-fold confidences of uncalibrated fits, the same scale.
    if kind == "lexical":
        return LexicalStudent.fit(payloads, labels, calibrate=False)
    if kind == "head":
        return HeadStudent.fit(payloads, labels, embedder, calibrate=False)
    if kind == "zero-shot":
        return ZeroShotStudent.build(surface, slm)
    if kind == "sentiment":
        return SentimentStudent.fit(payloads, labels, slm)
    raise InvalidInputError(f"unknown student kind {kind!r}")


def _out_of_fold(kind: Candidate, examples: Sequence[tuple[str, str]], surface: dict[str, str], slm: SLM,
                 embedder: Embedder, folds: int, seed: int) -> list[Prediction]:
    """Each example predicted by a fit that did not see it (trained kinds); else by the one student."""
    payloads = [p for p, _ in examples]
    labels = [label for _, label in examples]
    assignment = fold_of(examples, folds, seed)
    out: list[Prediction | None] = [None] * len(examples)
    for fold in range(folds):
        train = [i for i, f in enumerate(assignment) if f != fold]
        test = [i for i, f in enumerate(assignment) if f == fold]
        if not test:
            continue
        if len({labels[i] for i in train}) < 2:
            raise InvalidInputError("a fold holds a single label: too few examples per label")
        student = _fit(kind, [payloads[i] for i in train], [labels[i] for i in train], surface, slm, embedder)
        if student is None:
            raise InvalidInputError("not applicable to these labels")
        for i, prediction in zip(test, student.predict([payloads[i] for i in test]), strict=True):
            out[i] = prediction
    return [p for p in out if p is not None]


def _latency_ms(student: Student, payloads: Sequence[str]) -> float:
    times = []
    for text in list(payloads)[-_LATENCY_PROBES:]:
        started = time.perf_counter()
        if isinstance(student, HeadStudent):
            student.predict([text], cache=False)  # the embedding is part of the price
        else:
            student.predict([text])
        times.append(1000 * (time.perf_counter() - started))
    return percentile(times, 50) or 0.0


def student_size(student: Student) -> int:
    if isinstance(student, FineTunedStudent):
        return student.classifier.size_bytes
    if isinstance(student, LexicalStudent | HeadStudent):
        head = student.head
        size = head.weights.nbytes + head.bias.nbytes
        if head.lexical is not None:
            size += head.lexical.idf.nbytes + sum(len(t) for t in head.lexical.vocabulary)
        return int(size)
    return 0  # a skill the kit already holds: no file of its own


def evaluate(kind: Candidate, examples: Sequence[tuple[str, str]], surface: dict[str, str],
             settings: DistillSettings, slm: SLM, embedder: Embedder) -> Trained | CandidateReport:
    """Score ``kind`` by out-of-fold predictions on ``examples`` and fit it on all of them."""
    if kind == "finetune":
        return _evaluate_finetuned(examples, settings)
    payloads = [p for p, _ in examples]
    labels = [label for _, label in examples]
    trains = kind in ("lexical", "head")
    folds = min(settings.folds, max(Counter(labels).values())) if trains else 1
    encoder = embedder.model if kind == "head" else None
    try:
        student = _fit(kind, payloads, labels, surface, slm, embedder)
        if student is None:
            raise InvalidInputError("not applicable to these labels")
        student.warm_up()
        predictions = (_out_of_fold(kind, examples, surface, slm, embedder, folds, settings.seed) if trains
                       else student.predict(payloads))
    except InvalidInputError as exc:
        return CandidateReport(kind, len(examples), folds, 0.0, 1.01, 0.0, 0.0, 0.0, 0.0, 0, False, str(exc), encoder)
    correct = [p.label == g for p, g in zip(predictions, labels, strict=True)]
    confidences = [p.confidence for p in predictions]
    threshold, coverage, served, low = pick_threshold(confidences, correct, settings.threshold_agreement,
                                                      settings.wilson_z, settings.threshold_evidence)
    meets = coverage >= max(settings.min_coverage, 1e-9)
    note = "" if meets else (f"no confidence threshold has a Wilson lower bound of agreement >= "
                             f"{settings.threshold_agreement:.2f} on >= {settings.min_coverage:.0%} of examples")
    report = CandidateReport(kind, len(examples), folds, float(np.mean(correct)) if correct else 0.0, threshold,
                             coverage, served, low, _latency_ms(student, payloads), student_size(student), meets, note,
                             encoder)
    return Trained(student, report)


def _rows_for_bound(target: float, z: float) -> int:
    """The fewest comparisons, all agreeing, whose Wilson lower bound reaches ``target``."""
    n = 1
    while wilson(n, n, z)[0] < target:
        n += 1
    return n


def _evaluate_finetuned(examples: Sequence[tuple[str, str]], settings: DistillSettings) -> Trained | CandidateReport:
    """Fit once with one stratified fold held out; the threshold is read off that fold, and the student
    kept is that very fit (a fit takes minutes: no out-of-fold round, no refit on every example)."""
    payloads = [p for p, _ in examples]
    labels = [label for _, label in examples]
    folds = max(2, min(settings.folds, max(Counter(labels).values())))
    held = [i for i, f in enumerate(fold_of(examples, folds, settings.seed)) if f == 0]
    need = _rows_for_bound(settings.threshold_agreement, settings.wilson_z)

    def skipped(note: str) -> CandidateReport:
        return CandidateReport("finetune", len(examples), folds, 0.0, 1.01, 0.0, 0.0, 0.0, 0.0, 0, False, note)

    if not settings.finetune_python:
        return skipped("distill.finetune_python is not set (an interpreter with torch: `make baseline`)")
    if len(held) < need:
        return skipped(f"a held-out fold of {len(held)} rows cannot show a Wilson lower bound of "
                       f"{settings.threshold_agreement:.2f} (needs {need}); tried from {need * folds} examples")
    tune = FineTuneSettings(python=settings.finetune_python, base=resolve(get_spec(FINETUNE_BASE), "model").parent,
                            epochs=settings.finetune_epochs, max_length=settings.finetune_max_length,
                            threads=settings.finetune_threads, nice=settings.finetune_nice,
                            seed=settings.seed)
    try:
        classifier, probs = finetune(payloads, labels, held, tune)
    except SlmkitError as exc:
        return skipped(str(exc))
    student = FineTunedStudent(classifier)
    predicted = [classifier.labels[int(p.argmax())] for p in probs]
    correct = [p == labels[i] for p, i in zip(predicted, held, strict=True)]
    threshold, coverage, served, low = pick_threshold([float(p.max()) for p in probs], correct,
                                                      settings.threshold_agreement, settings.wilson_z,
                                                      settings.threshold_evidence)
    meets = coverage >= max(settings.min_coverage, 1e-9)
    note = f"scored on a held-out fold of {len(held)} rows; the student is that fit"
    if not meets:
        note = (f"no confidence threshold has a Wilson lower bound of agreement >= {settings.threshold_agreement:.2f} "
                f"on >= {settings.min_coverage:.0%} of the held-out fold ({len(held)} rows)")
    report = CandidateReport("finetune", len(examples), folds, float(np.mean(correct)), threshold, coverage, served,
                             low, _latency_ms(student, payloads), student_size(student), meets, note)
    return Trained(student, report)


def choose(reports: Sequence[CandidateReport]) -> CandidateReport | None:
    """The candidate that answers most requests at the agreement target; the cheaper one on near ties."""
    meeting = [r for r in reports if r.meets]
    if not meeting:
        return None
    top = max(r.coverage for r in meeting)
    close = [r for r in meeting if r.coverage >= top - _COVERAGE_TIE]
    # Among those, a kind that needs less to serve, unless it is much slower: a head on a slow encoder
    # (e5, mpnet: 70-190 ms a payload) must not win a near tie over a fine-tuned MiniLM (~15 ms).
    fastest = min(r.p50_ms for r in close)
    quick = [r for r in close if r.p50_ms <= 2 * fastest + _LATENCY_SLACK_MS]
    return min(quick, key=lambda r: (COST_ORDER.index(r.kind), r.p50_ms))
