"""`slmkit eval rag --dataset squad|coqa`: retrieval quality, refusal calibration and answer quality on
SQuAD v1.1 dev (encyclopaedic); retrieval on CoQA's stories (children's stories, literature, exams,
news, Reddit posts: the second, non-encyclopaedic domain).

Fusion weights: the questions are split in two halves by document (seeded); ``slmkit.rag.tune`` fits
the weights on one and the report scores defaults and fitted weights on the other, beside BM25 and
dense alone on the same held-out questions.

Encoders: ``embedders`` (``--embedder minilm,nomic``) runs the retrieval part once per encoder in the
same run, each with its own index file, and compares them with the first as the baseline: quality
on the same questions, query p50 (one query at a time, embedding included) and ingest throughput
(a seeded sample of passages into a fresh index, the encoder loaded beforehand).

Retrieval: every question against the 2,067 dev paragraphs (each paragraph one
document); a question's target is its gold paragraph, so recall@k and MRR are
at paragraph level (a long paragraph split in two chunks counts once, at its
best chunk). All four modes come from the same queries in one run.

Refusal: the same questions asked once against the whole collection (answerable)
and once with their entire article filtered out (the answer is not in the
collection); a logistic fit on one half, rates on the other.

Answers: a fixed seeded sample, top-3 re-ranked chunks, short-answer prompt;
SQuAD exact match and F1 (official normalisation) per generator. Answers are
cached per question in the data dir, so an interrupted run resumes.
"""

from __future__ import annotations

import json
import random
import re
import string
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slmkit.config import get_settings
from slmkit.datasets.loaders import QAExample, SquadCorpus, load_squad
from slmkit.datasets.offdomain import COQA_NARRATIVE, Story, coqa
from slmkit.rag import tune
from slmkit.rag.corpora import coqa_sources, squad_sources
from slmkit.rag.embedders import EMBEDDERS, default_model, embedder_model, short_name
from slmkit.rag.index import Filter, Index
from slmkit.rag.retrieve import MODES, RetrievalConfig, Retriever, timed_search
from slmkit.reports import Bar, no_bar

if TYPE_CHECKING:
    from slmkit.rag.ingest import SourceText

SEED = 13
COLLECTION = "squad-dev"
COQA_COLLECTION = "coqa-stories"
DATASETS = ("squad", "coqa")
PROMPT_VERSION = "short-v2"
SPEED_QUERIES = 100  # one at a time through search(), for the query p50
SPEED_PASSAGES = {"squad": 50, "coqa": 20}  # ingested into a fresh index for the throughput (~60 chunks each)
SMALL, LARGE = "qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"


# -- SQuAD's official answer normalisation and metrics --------------------------------------------
def normalize_answer(text: str) -> str:
    text = text.lower()
    text = "".join(ch for ch in text if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: Sequence[str]) -> float:
    return float(max(normalize_answer(prediction) == normalize_answer(a) for a in answers))


def f1_score(prediction: str, answers: Sequence[str]) -> float:
    def one(gold: str) -> float:
        pred_tokens, gold_tokens = normalize_answer(prediction).split(), normalize_answer(gold).split()
        common = Counter(pred_tokens) & Counter(gold_tokens)
        same = sum(common.values())
        if same == 0:
            return 0.0
        precision, recall = same / len(pred_tokens), same / len(gold_tokens)
        return 2 * precision * recall / (precision + recall)

    return max(one(a) for a in answers)


# -- data -----------------------------------------------------------------------------------------
def eval_dir() -> Path:
    return get_settings().data_dir / "rag" / "eval"


def index_path(stem: str, embed_model: str) -> Path:
    """An evaluation's index file for one encoder (MiniLM's keeps the name it always had)."""
    suffix = "" if embed_model == EMBEDDERS["minilm"] else f"-{short_name(embed_model)}"
    return eval_dir() / f"{stem}{suffix}.sqlite3"


def ingest_domain(stem: str, collection: str, sources: Sequence[SourceText], embed_model: str | None,
                  bar: Bar = no_bar, path: Path | None = None) -> tuple[Index, Any]:
    """An evaluation collection in its own index file, per encoder; incremental, so a second run embeds nothing."""
    from slmkit.rag.ingest import ingest_texts

    model = embedder_model(embed_model) or default_model()
    index = Index(path or index_path(stem, model))
    with bar(f"ingest {collection} ({short_name(model)})", len(sources)) as advance:
        report = ingest_texts(list(sources), collection, index=index, progress=advance, embed_model=model)
    return index, report


def build_index(corpus: SquadCorpus, bar: Bar = no_bar, path: Path | None = None,
                embed_model: str | None = None) -> tuple[Index, Any]:
    """The SQuAD collection in its own index file."""
    return ingest_domain("squad-dev", COLLECTION, squad_sources(corpus), embed_model, bar, path)


# -- retrieval ------------------------------------------------------------------------------------
@dataclass
class RetrievalScores:
    mode: str
    n: int
    recall_at_1: float
    recall_at_5: float
    recall_at_20: float
    mrr: float


def _paragraph_ranks(hits: Sequence[Any]) -> list[int]:
    return list(dict.fromkeys(int(h.chunk.meta["paragraph"]) for h in hits))


def embed_questions(retriever: Retriever, texts: Sequence[str], bar: Bar = no_bar) -> dict[str, Any]:
    """Query vectors by text, made once per encoder and shared by every part of the run."""
    unique = list(dict.fromkeys(texts))
    vectors: dict[str, Any] = {}
    with bar(f"embed questions ({short_name(retriever.collection.embed_model)})", len(unique)) as advance:
        for start in range(0, len(unique), 256):
            part = unique[start : start + 256]
            vectors.update(zip(part, retriever.embed_queries(part), strict=True))
            advance(len(part))
    return vectors


def retrieval_ranks(retriever: Retriever, questions: Sequence[Any], bar: Bar = no_bar, depth: int = 20,
                    vectors: dict[str, Any] | None = None) -> tuple[dict[str, list[int | None]], float]:
    """Per mode, each question's 1-based paragraph rank (None past ``depth``); and ms per question."""
    ranks: dict[str, list[int | None]] = {m: [] for m in MODES}
    known = vectors or {}
    if not all(q.question in known for q in questions):
        known = embed_questions(retriever, [q.question for q in questions], bar)
    in_order = [known[q.question] for q in questions]
    started = time.perf_counter()
    with bar("retrieve (bm25, dense, hybrid, rerank)", len(questions)) as advance:
        for q, v in zip(questions, in_order, strict=True):
            # A long paragraph may fill two slots: ask for more chunks than paragraphs needed.
            out = retriever.run(q.question, depth + 10, MODES, query_vector=v)
            for mode, hits in out.items():
                order = _paragraph_ranks(hits)[:depth]
                ranks[mode].append(order.index(q.paragraph_id) + 1 if q.paragraph_id in order else None)
            advance()
    return ranks, 1000 * (time.perf_counter() - started) / max(1, len(questions))


def scores_of(ranks: dict[str, list[int | None]]) -> list[RetrievalScores]:
    scores = []
    for mode in MODES:
        rs = ranks[mode]
        n = max(1, len(rs))
        scores.append(RetrievalScores(
            mode, len(rs),
            *(sum(1 for r in rs if r is not None and r <= cut) / n for cut in (1, 5, 20)),
            sum(1.0 / r for r in rs if r is not None) / n,
        ))
    return scores


def retrieval_eval(retriever: Retriever, questions: Sequence[Any], bar: Bar = no_bar,
                   depth: int = 20) -> tuple[list[RetrievalScores], float]:
    ranks, ms = retrieval_ranks(retriever, questions, bar, depth)
    return scores_of(ranks), ms


# -- fusion weights: fitted on one half of the questions, scored on the other ------------------------
def _halves(questions: Sequence[tune.DevQuestion], group: Sequence[int], seed: int
            ) -> tuple[list[tune.DevQuestion], list[tune.DevQuestion]]:
    """Dev and test halves with no document (``group``: article or story) on both sides."""
    groups = sorted(set(group))
    random.Random(seed).shuffle(groups)
    dev_groups = set(groups[: len(groups) // 2])
    dev = [q for q, g in zip(questions, group, strict=True) if g in dev_groups]
    test = [q for q, g in zip(questions, group, strict=True) if g not in dev_groups]
    return dev, test


def fusion_eval(retriever: Retriever, questions: Sequence[tune.DevQuestion], group: Sequence[int],
                seed: int = SEED, bar: Bar = no_bar, vectors: dict[str, Any] | None = None) -> dict[str, Any] | None:
    dev, test = _halves(questions, group, seed)
    if len(dev) < tune.MIN_QUESTIONS or not test:
        return None  # too small a sample to fit on one half and score the other
    with bar("fusion: fit on the dev half", len(dev)) as advance:
        fitted = tune.fit(retriever, dev, progress=advance, vectors=vectors)
    with bar("fusion: score the test half", len(test)) as advance:
        held_out = tune.evaluate(retriever, test, {"default": fitted.default, "tuned": fitted.chosen}, advance,
                                 vectors=vectors)
    return {"dev_questions": len(dev), "test_questions": len(test), "default": fitted.default,
            "chosen": fitted.chosen, "dev": {k: asdict(v) for k, v in fitted.scores.items()},
            "test": {k: asdict(v) for k, v in held_out.items()}, "seconds": round(fitted.seconds, 1)}


def squad_dev_questions(corpus: SquadCorpus, questions: Sequence[QAExample]) -> tuple[list[tune.DevQuestion], list[int]]:
    sources = [s.source for s in squad_sources(corpus)]
    return ([tune.DevQuestion(q.question, frozenset({sources[q.paragraph_id]})) for q in questions],
            [corpus.articles[q.paragraph_id] for q in questions])


# -- encoders compared: quality and speed of each in one run ----------------------------------------
def ingest_speed(embed_model: str, sources: Sequence[SourceText], bar: Bar = no_bar) -> dict[str, Any]:
    """Passages/s of an ingest into a fresh index (nothing to reuse), the encoder already loaded."""
    import tempfile

    from slmkit.rag.ingest import ingest_texts
    from slmkit.skills.embed import Embed

    Embed(embed_model).warm_up()
    with tempfile.TemporaryDirectory(prefix="slmkit-rag-speed-") as tmp, Index(Path(tmp) / "speed.sqlite3") as index:
        with bar(f"ingest speed ({short_name(embed_model)})", len(sources)) as advance:
            report = ingest_texts(sources, "speed", index=index, embed_model=embed_model, progress=advance)
    seconds = max(report.seconds, 1e-9)
    return {"passages": len(sources), "chunks": report.chunks_written, "seconds": round(report.seconds, 2),
            "passages_per_s": round(len(sources) / seconds, 2), "chunks_per_s": round(report.chunks_written / seconds, 2)}


def query_latency(retriever: Retriever, questions: Sequence[str], bar: Bar = no_bar) -> dict[str, Any]:
    """Milliseconds per ``search`` (hybrid + rerank, top 5), one query at a time, its embedding included."""
    import statistics

    times: list[float] = []
    with bar(f"query latency ({short_name(retriever.collection.embed_model)})", len(questions)) as advance:
        for question in questions:
            times.append(timed_search(retriever, question, 5, "rerank")[1])
            advance()
    ordered = sorted(times)
    return {"queries": len(times), "p50_ms": round(statistics.median(times), 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2)}


@dataclass
class Domain:
    """What one evaluation domain gives the per-encoder part of the run."""

    stem: str  # index file name
    collection: str
    sources: list[SourceText]
    questions: list[QAExample]
    dev: list[tune.DevQuestion]  # the same questions with their source documents, for the fusion fit
    groups: list[int]  # no group (article, story) on both sides of the fit/test split
    speed_key: str


def embedder_section(domain: Domain, embed_model: str, *, seed: int, bar: Bar, config: RetrievalConfig | None,
                     fusion: bool) -> tuple[dict[str, Any], dict[str, list[int | None]], Retriever]:
    """One encoder on one domain: ingest (incremental), all four modes, the fusion fit, speed."""
    embed_model = embedder_model(embed_model) or default_model()
    index, ingested = ingest_domain(domain.stem, domain.collection, domain.sources, embed_model, bar)
    retriever = Retriever(domain.collection, index, config or RetrievalConfig()).warm_up()
    vectors = embed_questions(retriever, [q.question for q in domain.questions], bar)
    ranks, ms = retrieval_ranks(retriever, domain.questions, bar, vectors=vectors)
    fused = fusion_eval(retriever, domain.dev, domain.groups, seed, bar, vectors) if fusion else None
    rng = random.Random(seed + 3)
    speed_sources = rng.sample(domain.sources, min(SPEED_PASSAGES[domain.speed_key], len(domain.sources)))
    speed_questions = [q.question for q in rng.sample(domain.questions, min(SPEED_QUERIES, len(domain.questions)))]
    speed = {"query": query_latency(retriever, speed_questions, bar), "ingest": ingest_speed(embed_model, speed_sources, bar)}
    stats = index.stats(domain.collection)
    section = {
        "embedder": short_name(embed_model), "embed_model": embed_model, "dim": retriever.collection.dim,
        "chunks": stats["chunks"], "index": str(index.path),
        "ingest": {"embedded_this_run": ingested.chunks_embedded, "seconds": round(ingested.seconds, 2)},
        "retrieval_config": asdict(retriever.config),
        "retrieval": [asdict(r) for r in scores_of(ranks)],
        "retrieval_ms_per_question_all_modes": round(ms, 2),
        "fusion": fused,
        "speed": speed,
    }
    return section, ranks, retriever


def comparison(sections: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per encoder: recall@1/5 of every mode (all questions, default weights; and hybrid + rerank with
    weights fitted on the other half), query p50 and ingest throughput, with ratios to the first."""
    base = sections[0]["speed"]
    rows = []
    for section in sections:
        speed = section["speed"]
        row: dict[str, Any] = {"embedder": section["embedder"], "embed_model": section["embed_model"]}
        for r in section["retrieval"]:
            row[f"{r['mode']}_r1"], row[f"{r['mode']}_r5"] = r["recall_at_1"], r["recall_at_5"]
        if section["fusion"]:
            test = section["fusion"]["test"]
            row.update(heldout_bm25_r1=test["bm25"]["recall_at_1"], heldout_bm25_r5=test["bm25"]["recall_at_5"],
                       heldout_rerank_tuned_r1=test["rerank (tuned)"]["recall_at_1"],
                       heldout_rerank_tuned_r5=test["rerank (tuned)"]["recall_at_5"])
        row.update(query_p50_ms=speed["query"]["p50_ms"], ingest_passages_per_s=speed["ingest"]["passages_per_s"],
                   query_p50_ratio=round(speed["query"]["p50_ms"] / max(base["query"]["p50_ms"], 1e-9), 2),
                   ingest_slowdown=round(base["ingest"]["passages_per_s"] / max(speed["ingest"]["passages_per_s"], 1e-9), 2))
        rows.append(row)
    return rows


def sample_groups(group_of: Sequence[int], docs: int, seed: int) -> set[int]:
    """Documents of a seeded sample of whole groups (SQuAD articles, CoQA stories) until there are at least
    ``docs``: a smaller collection for a slow encoder, with every question of a kept document answerable."""
    groups = sorted(set(group_of))
    random.Random(seed + 4).shuffle(groups)
    members: dict[int, list[int]] = {}
    for doc, group in enumerate(group_of):
        members.setdefault(group, []).append(doc)
    kept: set[int] = set()
    for group in groups:
        if len(kept) >= docs:
            break
        kept.update(members[group])
    return kept


def _stem(stem: str, docs: int | None, seed: int) -> str:
    return stem if docs is None else f"{stem}-docs{docs}-seed{seed}"


def _models(embedders: Sequence[str] | None) -> list[str]:
    models = [m for m in (embedder_model(e) for e in (embedders or [])) if m] or [default_model()]
    return list(dict.fromkeys(models))


def _with_sections(report: dict[str, Any], sections: list[dict[str, Any]]) -> dict[str, Any]:
    """The first encoder's figures stay where they always were (top level); every encoder's in ``embedders``."""
    first = sections[0]
    report["corpus"].update(chunks=first["chunks"], embed_model=first["embed_model"])
    report.update(ingest=first["ingest"], retrieval_config=first["retrieval_config"], retrieval=first["retrieval"],
                  retrieval_ms_per_question_all_modes=first["retrieval_ms_per_question_all_modes"],
                  fusion=first["fusion"], embedders=sections, comparison=comparison(sections))
    return report


# -- CoQA: the second domain ------------------------------------------------------------------------
def coqa_questions(stories: Sequence[Story]) -> list[QAExample]:
    """The first question of every conversation: the later ones lean on it ("what did she do next?")."""
    return [QAExample(s.questions[0], (), i) for i, s in enumerate(stories) if s.questions]


def run_coqa(*, seed: int = SEED, bar: Bar = no_bar, config: RetrievalConfig | None = None,
             fusion: bool = True, embedders: Sequence[str] | None = None, docs: int | None = None) -> dict[str, Any]:
    """Retrieval on CoQA's non-encyclopaedic stories: all modes, per source, and fitted fusion, for each
    of ``embedders`` (short or catalog names; default: the default encoder). ``docs``: a seeded sample
    of that many stories (and their questions) instead of all."""
    started = time.perf_counter()
    stories = coqa(COQA_NARRATIVE)
    every = coqa_sources(stories)
    kept = sample_groups(range(len(stories)), docs, seed) if docs else set(range(len(stories)))
    sources = [s for i, s in enumerate(every) if i in kept]
    qs = [q for q in coqa_questions(stories) if q.paragraph_id in kept]
    dev = [tune.DevQuestion(q.question, frozenset({every[q.paragraph_id].source})) for q in qs]
    domain = Domain(_stem("coqa", docs, seed), COQA_COLLECTION, sources, qs, dev, [q.paragraph_id for q in qs],
                    "coqa")
    sections = []
    for model in _models(embedders):
        section, ranks, retriever = embedder_section(domain, model, seed=seed, bar=bar, config=config, fusion=fusion)
        by_source = {}
        for source in COQA_NARRATIVE:
            keep = [stories[q.paragraph_id].source == source for q in qs]
            by_source[source] = [asdict(r) for r in scores_of({m: [r for r, k in zip(rs, keep, strict=True) if k]
                                                                for m, rs in ranks.items()})]
        section["retrieval_by_source"] = by_source
        retriever.index.close()
        sections.append(section)
    report = {
        "task": "rag", "dataset": "coqa-dev-narrative", "seed": seed,
        "corpus": {"paragraphs": len(sources), "questions": len(qs), "sources": list(COQA_NARRATIVE),
                   "sampled_documents": docs},
        "retrieval_by_source": sections[0]["retrieval_by_source"],
        "refusal_calibration": None, "answers": [], "grounded_refusal": [],
    }
    _with_sections(report, sections)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


# -- refusal calibration --------------------------------------------------------------------------
@dataclass
class RefusalCalibration:
    n_fit: int
    n_test: int
    weights: tuple[float, float, float]  # cosine, coverage, bias
    threshold: float
    auc: float  # held-out, answerable vs not-in-collection
    answered_when_answerable: float  # held-out, at the threshold
    refused_when_unanswerable: float
    default_answered_when_answerable: float  # the library's CONFIDENCE_WEIGHTS/DEFAULT_THRESHOLD, held-out
    default_refused_when_unanswerable: float


def _article_docs(index: Index) -> dict[int, list[int]]:
    by_article: dict[int, list[int]] = {}
    for row in index.query("SELECT id, meta FROM documents WHERE collection = ?", (COLLECTION,)):
        by_article.setdefault(int(json.loads(row["meta"])["article"]), []).append(int(row["id"]))
    return by_article


def calibrate_refusal(retriever: Retriever, corpus: SquadCorpus, n: int = 600, seed: int = SEED,
                      bar: Bar = no_bar) -> RefusalCalibration:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from slmkit.rag.answer import CONFIDENCE_WEIGHTS, DEFAULT_THRESHOLD, _coverage

    by_article = _article_docs(retriever.index)
    sample = random.Random(seed + 1).sample(corpus.questions, n)
    rows: list[tuple[float, float, int]] = []
    with bar("refusal calibration", n) as advance:
        for q in sample:
            for label, flt in ((1, None), (0, Filter(exclude_doc_ids=by_article[corpus.articles[q.paragraph_id]]))):
                hits = retriever.search(q.question, 3, "rerank", flt)
                top = hits[0] if hits else None
                rows.append((top.dense or 0.0, _coverage(q.question, top.chunk.embed_text), label) if top else (0.0, 0.0, label))
            advance()
    data = np.array(rows)
    half = len(data) // 2  # pairs stay together: the first n/2 questions fit, the rest test
    fit, test = data[:half], data[half:]
    model = LogisticRegression(C=10.0).fit(fit[:, :2], fit[:, 2])
    w = (float(model.coef_[0][0]), float(model.coef_[0][1]), float(model.intercept_[0]))

    def prob(x: Any, weights: Sequence[float]) -> Any:
        return 1 / (1 + np.exp(-(weights[0] * x[:, 0] + weights[1] * x[:, 1] + weights[2])))

    p_fit = prob(fit, w)
    # Youden's J on the fit half: the threshold that best separates the two kinds of question.
    candidates = np.unique(np.round(p_fit, 3))
    best = max(candidates, key=lambda t: ((p_fit >= t) & (fit[:, 2] == 1)).sum() / max(1, (fit[:, 2] == 1).sum())
               + ((p_fit < t) & (fit[:, 2] == 0)).sum() / max(1, (fit[:, 2] == 0).sum()))
    p_test, p_default = prob(test, w), prob(test, CONFIDENCE_WEIGHTS)
    pos, neg = test[:, 2] == 1, test[:, 2] == 0
    return RefusalCalibration(
        half // 2, (len(data) - half) // 2, tuple(round(v, 3) for v in w), float(best),  # type: ignore[arg-type]
        float(roc_auc_score(test[:, 2], p_test)),
        float((p_test[pos] >= best).mean()), float((p_test[neg] < best).mean()),
        float((p_default[pos] >= DEFAULT_THRESHOLD).mean()), float((p_default[neg] < DEFAULT_THRESHOLD).mean()),
    )


# -- answers --------------------------------------------------------------------------------------
@dataclass
class AnswerScores:
    model: str
    n: int
    exact_match: float  # end to end: retrieval gate on, a refusal scores 0
    f1: float
    exact_match_ungated: float  # the generator always answers from the top-3 chunks
    f1_ungated: float
    refused_by_gate: int
    refused_by_model: int
    seconds_per_answer: float


@dataclass
class GroundedRefusal:
    model: str
    n: int  # questions whose whole article is filtered out of the collection
    refused_end_to_end: float  # gate or model said "not found"
    refused_by_model_alone: float  # gate off: the model itself declined


def _cache(model: str) -> Path:
    return eval_dir() / f"answers-{model}-{PROMPT_VERSION}.jsonl"


def _load_cache(model: str) -> dict[str, dict[str, Any]]:
    path = _cache(model)
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            out[row["key"]] = row
        except (ValueError, KeyError):
            continue  # a line cut by an interrupted run
    return out


def _generate_all(retriever: Retriever, model: str, items: list[tuple[str, str, Filter | None]], bar: Bar,
                  threads: int | None, label: str, cached_only: bool = False) -> dict[str, dict[str, Any]]:
    """Ungated answers (threshold 0) for (key, question, filter) items, cached per key.
    ``cached_only``: generate nothing, return the items answered by earlier runs."""
    from slmkit.rag.answer import Answerer, confidence_features, is_refusal

    cache = _load_cache(model)
    if cached_only:
        return {key: cache[key] for key, _, _ in items if key in cache}
    todo = [item for item in items if item[0] not in cache]
    answerer = Answerer(COLLECTION, retriever=retriever, model=model, threshold=0.0, k=3, threads=threads)
    path = _cache(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    with bar(f"{label}: {model}", len(items)) as advance, path.open("a", encoding="utf-8") as out:
        advance(len(items) - len(todo))
        for key, question, flt in todo:
            hits = retriever.search(question, 3, "rerank", flt)
            result = answerer.answer(question, hits, short=True, max_tokens=32)
            # The gate's inputs, not its verdict: the gate is applied when the report is made, so a
            # re-calibrated gate does not need the answers generated again.
            row = {"key": key, "text": result.text, "features": confidence_features(question, hits),
                   "refused": is_refusal(result.text), "ms": result.generation_ms}
            out.write(json.dumps(row) + "\n")
            out.flush()
            cache[key] = row
            advance()
    return {key: cache[key] for key, _, _ in items}


def answer_eval(retriever: Retriever, corpus: SquadCorpus, model: str, n: int = 300, seed: int = SEED,
                threshold: float | None = None, bar: Bar = no_bar, threads: int | None = None,
                cached_only: bool = False) -> AnswerScores | None:
    from slmkit.rag.answer import DEFAULT_THRESHOLD, confidence_from, strip_citations

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    order = random.Random(seed).sample(range(len(corpus.questions)), n)
    items = [(f"q{i}", corpus.questions[i].question, None) for i in order]
    rows = _generate_all(retriever, model, items, bar, threads, "answers", cached_only)
    # The seeded order is the generation order, so a partial cache is a seeded sample of its own size.
    order = [i for i in order if f"q{i}" in rows]
    n = len(order)
    if not n:
        return None
    em = f1 = em_ungated = f1_ungated = 0.0
    gate = refused = 0
    for i in order:
        row, gold = rows[f"q{i}"], corpus.questions[i].answers
        prediction = "" if row["refused"] else strip_citations(row["text"]).rstrip(".")
        e, f = exact_match(prediction, gold), f1_score(prediction, gold)
        em_ungated += e
        f1_ungated += f
        refused += row["refused"]
        if confidence_from(row["features"]) < threshold:
            gate += 1
            continue
        em += e
        f1 += f
    ms = [rows[f"q{i}"]["ms"] for i in order]
    return AnswerScores(model, n, em / n, f1 / n, em_ungated / n, f1_ungated / n, gate, refused,
                        sum(ms) / len(ms) / 1000)


def refusal_eval(retriever: Retriever, corpus: SquadCorpus, model: str, n: int = 50, seed: int = SEED,
                 threshold: float | None = None, bar: Bar = no_bar, threads: int | None = None,
                 cached_only: bool = False) -> GroundedRefusal | None:
    from slmkit.rag.answer import DEFAULT_THRESHOLD, confidence_from

    threshold = DEFAULT_THRESHOLD if threshold is None else threshold
    by_article = _article_docs(retriever.index)
    order = random.Random(seed + 2).sample(range(len(corpus.questions)), n)
    items = [(f"u{i}", corpus.questions[i].question,
              Filter(exclude_doc_ids=by_article[corpus.articles[corpus.questions[i].paragraph_id]])) for i in order]
    rows = _generate_all(retriever, model, items, bar, threads, "not-in-collection", cached_only)
    items = [item for item in items if item[0] in rows]
    n = len(items)
    if not n:
        return None
    model_refused = sum(rows[k]["refused"] for k, _, _ in items)
    end_to_end = sum(rows[k]["refused"] or confidence_from(rows[k]["features"]) < threshold
                     for k, _, _ in items)
    return GroundedRefusal(model, n, end_to_end / n, model_refused / n)


# -- the whole report -----------------------------------------------------------------------------
def run(*, retrieval: bool = True, questions: int | None = None, answer_sample: int = 300, refusal_sample: int = 50,
        generators: Sequence[str] = (SMALL, LARGE), calibration_sample: int = 600, seed: int = SEED,
        threads: int | None = None, bar: Bar = no_bar, config: RetrievalConfig | None = None,
        cached_only: Sequence[str] = (), fusion: bool = True, embedders: Sequence[str] | None = None,
        docs: int | None = None) -> dict[str, Any]:
    """Everything `slmkit eval rag` reports, as one JSON-able dict. Retrieval runs for each of
    ``embedders``; the refusal calibration and the answers use the first (on the whole corpus).
    ``docs``: retrieval on the paragraphs of a seeded sample of whole articles (at least that many)."""
    started = time.perf_counter()
    corpus = load_squad()
    kept = sample_groups(corpus.articles, docs, seed) if docs else set(range(len(corpus.paragraphs)))
    pool = [q for q in corpus.questions if q.paragraph_id in kept] if docs else corpus.questions
    qs = pool if questions is None else random.Random(seed).sample(pool, min(questions, len(pool)))
    models = _models(embedders)
    sections: list[dict[str, Any]] = []
    if retrieval:
        dev, groups = squad_dev_questions(corpus, qs)
        sources = [s for p, s in enumerate(squad_sources(corpus)) if p in kept]
        domain = Domain(_stem("squad-dev", docs, seed), COLLECTION, sources, list(qs), dev, groups, "squad")
        for model in models:
            section, _, other = embedder_section(domain, model, seed=seed, bar=bar, config=config, fusion=fusion)
            other.index.close()
            sections.append(section)
    index, ingest_report = build_index(corpus, bar, embed_model=models[0])
    retriever = Retriever(COLLECTION, index, config or RetrievalConfig()).warm_up()
    calibration = calibrate_refusal(retriever, corpus, calibration_sample, seed, bar) if calibration_sample else None
    # cached_only: generators whose answers are taken from earlier runs only (a long run still going on)
    answers = [answer_eval(retriever, corpus, m, answer_sample, seed, bar=bar, threads=threads,
                           cached_only=m in cached_only) for m in generators] if answer_sample else []
    refusals = [refusal_eval(retriever, corpus, m, refusal_sample, seed, bar=bar, threads=threads,
                             cached_only=m in cached_only) for m in generators[:1]] if refusal_sample and generators else []
    stats = index.stats(COLLECTION)
    index.close()
    report: dict[str, Any] = {
        "task": "rag", "dataset": "squad-v1.1-dev", "seed": seed,
        "corpus": {"paragraphs": len(kept), "questions": len(pool), "sampled_documents": docs,
                   "chunks": stats["chunks"], "embed_model": retriever.collection.embed_model},
        "ingest": {"embedded_this_run": ingest_report.chunks_embedded, "seconds": round(ingest_report.seconds, 2)},
        "retrieval_config": asdict(retriever.config), "retrieval": [], "retrieval_ms_per_question_all_modes": 0.0,
        "fusion": None,
        "refusal_calibration": asdict(calibration) if calibration else None,
        "answers": [asdict(a) for a in answers if a is not None],
        "answer_sample_requested": answer_sample,
        "grounded_refusal": [asdict(r) for r in refusals if r is not None],
    }
    if sections:
        _with_sections(report, sections)
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def _weights(values: dict[str, Any]) -> str:
    return ", ".join(f"{k} {values[k]:.2f}" for k in tune.TUNABLE if k in values)


def _print_retrieval(report: dict[str, Any], section: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    n = section["retrieval"][0]["n"] if section["retrieval"] else 0
    coqa_run = report["dataset"].startswith("coqa")
    what = (f"CoQA dev stories ({n:,} first questions, {report['corpus']['paragraphs']:,} stories)" if coqa_run
            else f"SQuAD v1.1 dev ({n:,} questions, {report['corpus']['paragraphs']:,} paragraphs)")
    table = Table(title=f"RAG retrieval, {what}, {section['embedder']}; weights {_weights(section['retrieval_config'])}")
    for column in ("mode", "recall@1", "recall@5", "recall@20", "MRR"):
        table.add_column(column, justify="left" if column == "mode" else "right")
    names = {"bm25": "BM25 (FTS5)", "dense": f"dense ({section['embed_model']})", "hybrid": "hybrid (RRF)",
             "rerank": "hybrid + rerank"}
    for r in section["retrieval"]:
        table.add_row(names[r["mode"]], f"{r['recall_at_1']:.4f}", f"{r['recall_at_5']:.4f}",
                      f"{r['recall_at_20']:.4f}", f"{r['mrr']:.4f}")
    console.print(table)
    for source, rows in (section.get("retrieval_by_source") or {}).items():
        console.print(f"  {source:10s} " + "  ".join(f"{r['mode']} r@1 {r['recall_at_1']:.3f} r@5 {r['recall_at_5']:.3f}"
                                                   for r in rows))
    fused = section.get("fusion")
    if fused:
        table = Table(title=f"{section['embedder']}: fusion weights fitted on {fused['dev_questions']} dev questions, "
                            f"scored on {fused['test_questions']} held-out ones (no shared document); "
                            f"default {_weights(fused['default'])} -> fitted {_weights(fused['chosen'])}")
        for column in ("mode (held-out half)", "recall@1", "recall@5", "MRR@20"):
            table.add_column(column, justify="left" if column.startswith("mode") else "right")
        for name, r in fused["test"].items():
            table.add_row(name, f"{r['recall_at_1']:.4f}", f"{r['recall_at_5']:.4f}", f"{r['mrr']:.4f}")
        console.print(table)


def _print_comparison(rows: list[dict[str, Any]], console: Any) -> None:
    from rich.table import Table

    base = rows[0]["embedder"]
    table = Table(title=f"Encoders compared (baseline {base}); recall on all questions with default weights, "
                        "'tuned' on the held-out half; speed indicative (shared CPU)")
    columns = ("embedder", "BM25 r@1/5", "dense r@1/5", "hybrid r@1/5", "rerank r@1/5", "rerank tuned r@1/5",
               "query p50 ms", "x base", "ingest passages/s", "x slower")
    for column in columns:
        table.add_column(column, justify="left" if column == "embedder" else "right")
    for r in rows:
        tuned = (f"{r['heldout_rerank_tuned_r1']:.3f}/{r['heldout_rerank_tuned_r5']:.3f}"
                 if "heldout_rerank_tuned_r1" in r else "-")
        table.add_row(r["embedder"], *(f"{r[f'{m}_r1']:.3f}/{r[f'{m}_r5']:.3f}" for m in MODES), tuned,
                      f"{r['query_p50_ms']:.1f}", f"{r['query_p50_ratio']:.2f}", f"{r['ingest_passages_per_s']:.1f}",
                      f"{r['ingest_slowdown']:.2f}")
    console.print(table)


def print_report(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    for section in report.get("embedders") or []:
        _print_retrieval(report, section, console)
    if report.get("comparison"):
        _print_comparison(report["comparison"], console)
    if report["answers"]:
        table = Table(title="Answers (top-3 re-ranked chunks, short-answer prompt)")
        for column in ("generator", "n", "EM", "F1", "EM ungated", "F1 ungated", "gate refused", "model refused",
                       "s/answer"):
            table.add_column(column, justify="left" if column == "generator" else "right")
        for a in report["answers"]:
            table.add_row(a["model"], str(a["n"]), f"{a['exact_match']:.3f}", f"{a['f1']:.3f}",
                          f"{a['exact_match_ungated']:.3f}", f"{a['f1_ungated']:.3f}", str(a["refused_by_gate"]),
                          str(a["refused_by_model"]), f"{a['seconds_per_answer']:.1f}")
        console.print(table)
    cal = report.get("refusal_calibration")
    if cal:
        table = Table(title="Refusal: answerable vs answer-not-in-collection (held-out half)")
        for column in ("confidence", "threshold", "AUC", "answered (answerable)", "refused (not in collection)"):
            table.add_column(column, justify="right")
        table.add_row(f"fitted {cal['weights']}", f"{cal['threshold']:.3f}", f"{cal['auc']:.3f}",
                      f"{cal['answered_when_answerable']:.3f}", f"{cal['refused_when_unanswerable']:.3f}")
        table.add_row("library default", "default", "-", f"{cal['default_answered_when_answerable']:.3f}",
                      f"{cal['default_refused_when_unanswerable']:.3f}")
        for g in report.get("grounded_refusal", []):
            table.add_row(f"{g['model']} on {g['n']} unanswerable", "default", "-", "-",
                          f"{g['refused_end_to_end']:.3f} (model alone {g['refused_by_model_alone']:.3f})")
        console.print(table)
