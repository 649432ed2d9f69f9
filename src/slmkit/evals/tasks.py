"""`slmkit eval SKILL`: each function runs one skill on a held-out split and returns its reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.console import Console
from rich.table import Table

from slmkit.datasets.loaders import SNIPS_DESCRIPTIONS, LabelledText, load_labelled
from slmkit.datasets.splits import per_label_sample, stratified_split
from slmkit.evals.metrics import ClassificationReport, classification_report

Progress = Callable[[int], None]

SNIPS_TEST_FRACTION = 0.3


def eval_classify(dataset: str = "snips", shots: tuple[int, ...] = (10,), model: str | None = None,
                  progress: Progress | None = None) -> list[ClassificationReport]:
    """Zero-shot, k-shot heads and the all-examples head, all scored on the same held-out split."""
    from slmkit.skills.classify import Classify

    if dataset != "snips":
        raise ValueError("classify is evaluated on 'snips' (7 intents)")
    split = stratified_split(load_labelled(dataset), SNIPS_TEST_FRACTION)
    test_texts = [e.text for e in split.test]
    gold = [e.label for e in split.test]
    runs: list[tuple[str, Callable[[], Classify], int]] = [
        ("zero-shot (descriptions)", lambda: Classify.zero_shot(SNIPS_DESCRIPTIONS, model=model), 0)
    ]
    for k in shots:
        sample = per_label_sample(split.train, k)
        runs.append((f"head, {k}/intent", _fitter(sample, model), len(sample)))
    runs.append((f"head, all {len(split.train)}", _fitter(split.train, model), len(split.train)))

    reports = []
    for name, build, n_train in runs:
        skill = build()
        results = skill(test_texts)
        reports.append(classification_report(
            name, gold, [r.top for r in results], [r.score for r in results],
            train_examples=n_train, none_rate=sum(r.label is None for r in results) / len(results),
            threshold=skill.threshold,
        ))
        if progress:
            progress(1)
    return reports


def _fitter(examples: list[LabelledText], model: str | None):
    from slmkit.skills.classify import Classify

    return lambda: Classify.fit([e.text for e in examples], [e.label for e in examples], model=model)


def eval_sentiment(dataset: str = "pang-lee", model: str | None = None,
                   progress: Progress | None = None) -> list[ClassificationReport]:
    """The built head (trained on the train split only) against VADER, on the same 20% test split."""
    from slmkit.skills.sentiment import Sentiment
    from slmkit.skills.sentiment.head import SENTIMENT_TEST_FRACTION

    if dataset != "pang-lee":
        raise ValueError("sentiment is evaluated on 'pang-lee'")
    split = stratified_split(load_labelled(dataset), SENTIMENT_TEST_FRACTION)
    texts = [e.text for e in split.test]
    gold = [e.label for e in split.test]
    reports = []
    for name, skill in (("trained head", Sentiment("head", model)), ("VADER baseline", Sentiment("vader"))):
        results = skill(texts)
        reports.append(classification_report(name, gold, [r.label for r in results], [r.score for r in results],
                                             train_examples=len(split.train) if skill.method == "head" else 0))
        if progress:
            progress(1)
    return reports


def print_classification(title: str, reports: Sequence[ClassificationReport], console: Console | None = None) -> None:
    console = console or Console()
    table = Table(title=title)
    for column in ("run", "n", "accuracy", "macro-F1", "ECE", "top confusion"):
        table.add_column(column, justify="right" if column in {"n", "accuracy", "macro-F1", "ECE"} else "left")
    for r in reports:
        confusion = f"{r.top_confusions[0][0]} -> {r.top_confusions[0][1]} ({r.top_confusions[0][2]})" \
            if r.top_confusions else "-"
        table.add_row(r.name, str(r.n), f"{r.accuracy:.4f}", f"{r.macro_f1:.4f}",
                      f"{r.ece:.3f}" if r.ece is not None else "-", confusion)
    console.print(table)
