"""`slmkit eval ...`: quality on public data sets with held-out splits; each writes a JSON report.

Commands import the evaluations in their body: they pull in the data-set loaders, the settings (pydantic)
and plotting, and `slmkit --help` should not pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from slmkit.cli._io import console, out, progress_bar
from slmkit.errors import InvalidInputError

eval_app = typer.Typer(help="Quality on public data sets with held-out splits.", no_args_is_help=True)

OutOption = Annotated[Path | None, typer.Option("--out", help="JSON report path.")]


@eval_app.command("rag")
def eval_rag_cmd(
    dataset: Annotated[str, typer.Option(help="squad (SQuAD v1.1 dev, encyclopaedic) or coqa (CoQA's stories, "
                                         "news and Reddit posts: retrieval only).")] = "squad",
    questions: Annotated[int | None, typer.Option(min=10, help="Retrieval on a seeded sample instead of all "
                                                   "10,565 questions.")] = None,
    answer_sample: Annotated[int, typer.Option(min=0, help="Seeded questions answered per generator (0: none).")] = 300,
    refusal_sample: Annotated[int, typer.Option(min=0, help="Not-in-collection questions for the small "
                                                "generator's grounded refusal.")] = 50,
    generators: Annotated[str, typer.Option(help="Comma-separated local generators.")]
    = "qwen2.5-coder-0.5b,qwen2.5-coder-1.5b",
    threads: Annotated[int | None, typer.Option(min=1, help="Generator threads; 1 is faster when something "
                                                "else holds a core.")] = None,
    no_retrieval: Annotated[bool, typer.Option("--no-retrieval", help="Skip the retrieval metrics.")] = False,
    cached_only: Annotated[str, typer.Option(help="Comma-separated generators scored only on answers cached by "
                                             "earlier runs (n says how many).")] = "",
    calibration_sample: Annotated[int, typer.Option(min=0, help="Questions for the refusal calibration "
                                                    "(0: skip it).")] = 600,
    no_fusion: Annotated[bool, typer.Option("--no-fusion", help="Skip fitting fusion weights on half the "
                                            "questions and scoring them on the other half.")] = False,
    embedder: Annotated[str, typer.Option("--embedder", help="Comma-separated encoders (minilm, nomic, mpnet) "
                                          "compared in this run, the first the baseline; default: the default "
                                          "encoder.")] = "",
    docs: Annotated[int | None, typer.Option("--docs", min=20, help="Retrieval on a seeded sample of whole "
                                             "articles/stories (at least this many documents) and their "
                                             "questions: for slow encoders; smaller collection, easier.")] = None,
    seed: int = 13,
    out_path: OutOption = None,
) -> None:
    """Recall@1/5/20 and MRR for BM25, dense, hybrid, hybrid+rerank; fitted fusion weights on held-out
    questions; query p50 and ingest throughput per encoder; refusal calibration; answer EM/F1 per generator."""
    from slmkit.evals import rag as rag_eval
    from slmkit.reports import default_out, write_json

    if dataset not in rag_eval.DATASETS:
        raise InvalidInputError(f"unknown RAG data set {dataset!r}; available: {', '.join(rag_eval.DATASETS)}")
    names = [g.strip() for g in generators.split(",") if g.strip()]
    embedders = [e.strip() for e in embedder.split(",") if e.strip()]
    if dataset == "coqa":
        report = rag_eval.run_coqa(seed=seed, bar=progress_bar, fusion=not no_fusion, embedders=embedders, docs=docs)
    else:
        report = rag_eval.run(retrieval=not no_retrieval, questions=questions, answer_sample=answer_sample,
                              refusal_sample=refusal_sample, generators=names, seed=seed, threads=threads,
                              bar=progress_bar, cached_only=[g.strip() for g in cached_only.split(",") if g.strip()],
                              calibration_sample=calibration_sample, fusion=not no_fusion, embedders=embedders,
                              docs=docs)
    rag_eval.print_report(report, out)
    path = write_json(out_path or default_out("eval", f"rag-{dataset}"), report)
    console.print(f"report: {path}")


@eval_app.command("plan")
def eval_plan_cmd(
    fixture: Annotated[Path, typer.Option("--fixture", help="YAML with requests and expected tools.")] =
        Path("tests/data/plan_requests.yaml"),
    planners: Annotated[str, typer.Option("--planners", help="Comma-separated planner tiers to compare.")] =
        "small,large",
    limit: Annotated[int | None, typer.Option("--limit", help="Only the first N requests.")] = None,
    tool_choice: Annotated[str | None, typer.Option("--tool-choice", help="Comma-separated plan.tool_choice modes "
                                                    "to compare (all, shortlist, auto, embedding); default: "
                                                    "the configured one.")] = None,
    out_path: OutOption = None,
) -> None:
    """Tool-selection F1, plan validity and planning latency for each planner tier, in one run."""
    from slmkit.evals.plan import evaluate, load_cases, load_collections, plot_report, print_report, write_report
    from slmkit.plan.runner import Orchestrator
    from slmkit.reports import default_out

    cases = load_cases(fixture)[:limit]
    collections = load_collections(fixture)
    chosen = [p.strip() for p in planners.split(",") if p.strip()]
    if not chosen or any(p not in ("small", "large", "auto", "encoder") for p in chosen):
        raise InvalidInputError("--planners is a comma-separated list of small, large, auto, encoder "
                                "(encoder: asks split by rule, tools by similarity, no generator)")
    from slmkit.config.plan import TOOL_CHOICES

    choices = [c.strip() for c in (tool_choice or "").split(",") if c.strip()] or [None]
    if any(c not in TOOL_CHOICES for c in choices if c is not None):
        raise InvalidInputError(f"--tool-choice is a comma-separated list of {', '.join(TOOL_CHOICES)}")
    orc = Orchestrator()
    if collections:  # the planner sees the installation the fixture describes, not this machine's index
        orc.planner.set_collections(collections)
    with console.status("loading the planner tiers..."):
        for p in chosen:
            if p != "encoder":  # no generator to load
                orc.warm_up(p)  # type: ignore[arg-type]
    runs = len(chosen) * len(choices)
    with progress_bar(f"planning {len(cases)} requests x {runs} planner runs", len(cases) * runs) as adv:
        scores = evaluate(orc, cases, chosen, progress=adv, tool_choices=choices)  # type: ignore[arg-type]
    print_report(scores, out)
    path = out_path or default_out("eval-plan", "fixture")
    write_report(scores, path)
    png = plot_report(scores, path.with_suffix(".png"))
    console.print(f"report: {path}\nplot: {png}")


@eval_app.command("classify")
def eval_classify_cmd(dataset: str = "snips",
                      shots: Annotated[str, typer.Option(help="Comma-separated examples per label.")] = "10",
                      model: Annotated[str | None, typer.Option(help="Encoder catalog name.")] = None,
                      out_path: OutOption = None) -> None:
    """Zero-shot, k-shot and all-examples heads on the held-out split of DATASET."""
    from slmkit.evals.tasks import SNIPS_TEST_FRACTION, eval_classify, print_classification
    from slmkit.reports import default_out, write_json

    try:
        ks = tuple(int(k) for k in shots.split(","))
    except ValueError:
        raise InvalidInputError("--shots takes comma-separated integers, e.g. 5,10") from None
    with progress_bar(f"eval classify on {dataset}", len(ks) + 2) as advance:
        reports = eval_classify(dataset, ks, model, progress=advance)
    print_classification(f"classify on {dataset} (held-out {SNIPS_TEST_FRACTION:.0%}, seed 13)", reports, out)
    path = write_json(out_path or default_out("eval-classify", dataset),
                      {"skill": "classify", "dataset": dataset, "reports": [r.to_dict() for r in reports]})
    console.print(f"report: {path}")


@eval_app.command("sentiment")
def eval_sentiment_cmd(dataset: Annotated[str, typer.Option(help="Only pang-lee (with the negation, factual, "
                                                            "news and MultiEmo sets beside it).")] = "pang-lee",
                       model: Annotated[str | None, typer.Option(help="Encoder catalog name.")] = None,
                       out_path: OutOption = None) -> None:
    """The three-way sentiment head against VADER: Pang & Lee held-out, negations, neutral factual
    sentences (in distribution), news and MultiEmo reviews (off distribution)."""
    from slmkit.evals.sentiment import STEPS, eval_sentiment, print_report
    from slmkit.reports import default_out, write_json

    if dataset != "pang-lee":
        raise InvalidInputError("sentiment is evaluated on 'pang-lee' and the sets beside it")
    with progress_bar("eval sentiment", STEPS) as advance:
        report = eval_sentiment(model, progress=advance)
    print_report(report, out)
    path = write_json(out_path or default_out("eval-sentiment", dataset), report)
    console.print(f"report: {path}")


@eval_app.command("entities")
def eval_entities_cmd(dataset: str = "conll2003", out_path: OutOption = None) -> None:
    """spaCy NER on the CoNLL-2003 test split: entity-level P/R/F1 for PER, LOC, ORG."""
    from slmkit.datasets import conll2003
    from slmkit.evals.spans import ONTONOTES_TO_CONLL, SPACY_PUBLISHED, eval_entities, print_spans
    from slmkit.reports import default_out, write_json

    if dataset != "conll2003":
        raise InvalidInputError("entities are evaluated on 'conll2003'")
    with progress_bar("eval entities on CoNLL-2003 test", len(conll2003("test"))) as advance:
        report = eval_entities(progress=advance)
    print_spans("en_core_web_sm on CoNLL-2003 test (exact boundaries)", report, out)
    out.print("label mapping: " + ", ".join(f"{k}->{v}" for k, v in ONTONOTES_TO_CONLL.items()) + " (MISC not scored)")
    out.print(f"published for this model ({SPACY_PUBLISHED['dataset']}): NER F {SPACY_PUBLISHED['ents_f']:.3f}, "
              f"PERSON {SPACY_PUBLISHED['PERSON']:.3f}, ORG {SPACY_PUBLISHED['ORG']:.3f}, GPE {SPACY_PUBLISHED['GPE']:.3f}")
    path = write_json(out_path or default_out("eval-entities", dataset), report.to_dict())
    console.print(f"report: {path}")


@eval_app.command("pii")
def eval_pii_cmd(n: Annotated[int, typer.Option(min=100, help="Synthetic sentences to generate.")] = 1200,
                 seed: int = 13,
                 out_path: OutOption = None) -> None:
    """Detection per PII type on seeded synthetic sentences from Presidio's templates and fake identities."""
    from slmkit.evals.spans import eval_pii, print_spans
    from slmkit.reports import default_out, write_json

    with progress_bar(f"eval pii on {n} synthetic sentences", n) as advance:
        report, survivors = eval_pii(n, seed, progress=advance)
    print_spans(f"pii, {n} sentences (seed {seed}); a value counts as found at >= 50% character overlap",
                report, out, survivors)
    path = write_json(out_path or default_out("eval-pii", f"seed{seed}"),
                      {**report.to_dict(), "values_left_after_mask": survivors})
    console.print(f"report: {path}")


@eval_app.command("moderate")
def eval_moderate_cmd(threshold: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.5,
                      model: Annotated[str | None, typer.Option(help="Encoder catalog name.")] = None,
                      out_path: OutOption = None) -> None:
    """Trained moderation head vs the profanity baseline: ROC-AUC on the held-out toxicity split."""
    from slmkit.evals.moderation import MODERATION_EVAL_STEPS, eval_moderate, print_moderation
    from slmkit.reports import default_out, write_json

    with progress_bar("eval moderate", MODERATION_EVAL_STEPS) as advance:
        evaluation = eval_moderate(model, threshold, progress=advance)
    print_moderation(evaluation, out)
    path = write_json(out_path or default_out("eval-moderate", "toxicity"), evaluation.to_dict())
    console.print(f"report: {path}")


@eval_app.command("extract")
def eval_extract_cmd(n: Annotated[int, typer.Option(min=1, help="Generated cases.")] = 100,
                     model: Annotated[str | None, typer.Option(help="Catalog name of the generator.")] = None,
                     seed: int = 13,
                     out_path: OutOption = None) -> None:
    """Structured extraction on seeded generated cases with known answers: schema validity and field accuracy."""
    from slmkit.config import get_settings
    from slmkit.evals.extraction import eval_extract, print_extraction
    from slmkit.reports import default_out, write_json

    with progress_bar(f"eval extract, {n} cases", n) as advance:
        report = eval_extract(n, model, progress=advance, seed=seed)
    print_extraction(report, out)
    path = write_json(out_path or default_out("eval-extract", model or get_settings().generator_model), report.to_dict())
    console.print(f"report: {path}")
