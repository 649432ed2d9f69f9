"""The skill commands: `slmkit embed | classify | sentiment | langid | rerank | generate | entities | pii |
moderate | extract | summarize | guard`. Texts come as arguments or stdin lines; results are JSON lines on stdout.

Each command imports the library in its body: the settings (pydantic) and the runtimes take a third of a
second or more to import, and `slmkit --help` should not pay for them.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from slmkit.cli._io import console, emit_lines, read_items, write_json_line
from slmkit.errors import InvalidInputError
from slmkit.serialize import to_json

LabelSpec = list[str] | dict[str, str] | None  # label names, or label -> description


def embed(texts: Annotated[list[str] | None, typer.Argument()] = None,
          model: Annotated[str | None, typer.Option(help="Catalog name of the encoder.")] = None) -> None:
    """Embed texts; one JSON line per text with its vector."""
    from slmkit.api import SLM

    items = read_items(texts)
    emit_lines(items, SLM(model).embed(items))


def _label_spec(labels: str | None) -> LabelSpec:
    """``a,b,c`` -> names; a .yaml/.yml/.json file -> whatever it holds (label: description)."""
    if labels is None:
        return None
    path = Path(labels)
    if path.suffix in {".yaml", ".yml", ".json"} and path.is_file():
        import yaml  # only for a labels file

        return yaml.safe_load(path.read_text(encoding="utf-8"))
    return [label.strip() for label in labels.split(",") if label.strip()]


def classify(
    texts: Annotated[list[str] | None, typer.Argument()] = None,
    labels: Annotated[str | None, typer.Option(help="Comma-separated labels, or a YAML file label: description.")] = None,
    head: Annotated[str | None, typer.Option(help="Name of a trained head (see `slmkit train classify`).")] = None,
    version: Annotated[int | None, typer.Option(help="Head version (default: latest).")] = None,
    threshold: Annotated[float | None, typer.Option(help="Below this probability: label null.")] = None,
) -> None:
    """Classify texts zero-shot (--labels) or with a trained head (--head)."""
    from slmkit.api import SLM

    label_spec = _label_spec(labels)
    items = read_items(texts)
    emit_lines(items, SLM().classify(items, labels=label_spec, head=head, version=version, threshold=threshold))


def sentiment(texts: Annotated[list[str] | None, typer.Argument()] = None,
              method: Annotated[str, typer.Option(help="head (trained) or vader (baseline).")] = "head") -> None:
    """Positive or negative, with a probability."""
    from slmkit.api import SLM

    items = read_items(texts)
    emit_lines(items, SLM().sentiment(items, method=method))


def langid(texts: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Detect the language of each text."""
    from slmkit.api import SLM

    items = read_items(texts)
    emit_lines(items, SLM().langid(items))


def rerank(query: str, passages: Annotated[list[str] | None, typer.Argument()] = None,
           top_k: Annotated[int | None, typer.Option(help="Keep the best k.")] = None) -> None:
    """Rank passages (arguments, or stdin lines) by relevance to QUERY."""
    from slmkit.api import SLM

    items = read_items(passages)
    for ranked in SLM().rerank(query, items, top_k):
        write_json_line(to_json(ranked))


def _read_schema(path: Path) -> Any:  # whatever JSON the file holds; the skill checks it
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read the JSON schema {path}: {exc}") from None


def generate(prompt: str,
             model: Annotated[str | None, typer.Option(help="Catalog name of the generator.")] = None,
             max_tokens: Annotated[int, typer.Option(min=1, max=4096)] = 128,
             json_schema: Annotated[Path | None, typer.Option(help="A JSON schema file the output must follow.")] = None,
             ) -> None:
    """Stream a chat answer from a local generator."""
    from slmkit.models.llama import get_generator

    schema = None if json_schema is None else _read_schema(json_schema)
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


def entities(texts: Annotated[list[str] | None, typer.Argument()] = None,
             labels: Annotated[str | None, typer.Option(help="Comma-separated OntoNotes labels to keep.")] = None) -> None:
    """Named entities; one JSON line per text with its spans."""
    from slmkit.api import SLM

    items = read_items(texts)
    chosen = [x.strip() for x in labels.split(",")] if labels else None
    for text, spans in zip(items, SLM().entities(items, labels=chosen), strict=True):
        write_json_line({"text": text, "entities": to_json(spans)})


def pii(texts: Annotated[list[str] | None, typer.Argument()] = None,
        redact: Annotated[str | None, typer.Option(help="mask | hash | reversible: print redacted text.")] = None,
        ) -> None:
    """Personal data in each text; with --redact, the text with it replaced (placeholders agree across lines)."""
    from slmkit.api import SLM

    items = read_items(texts)
    slm = SLM()
    if redact is None:
        for text, spans in zip(items, slm.pii(items), strict=True):
            write_json_line({"text": text, "pii": to_json(spans)})
        return
    results = slm.redact(items, mode=redact)
    for result in results:
        write_json_line({"redacted": result.text, "replacements": [list(r) for r in result.replacements]})
    if redact == "reversible" and results and results[0].vault is not None:
        # The mapping goes to stderr, so a pipe that forwards stdout never carries the values.
        console.print_json(data=results[0].vault.by_placeholder)


def moderate(texts: Annotated[list[str] | None, typer.Argument()] = None) -> None:
    """Toxicity score, categories and prompt-injection rules; one JSON line per text."""
    from slmkit.api import SLM

    items = read_items(texts)
    emit_lines(items, SLM().moderate(items))


def extract(texts: Annotated[list[str] | None, typer.Argument()] = None,
            schema: Annotated[Path, typer.Option(help="JSON schema file (an object with properties).")] = Path("schema.json"),
            model: Annotated[str | None, typer.Option(help="Catalog name of the generator.")] = None) -> None:
    """Extract fields to a JSON schema with the local generator; one JSON line per text."""
    from slmkit.api import SLM

    parsed = _read_schema(schema)
    items = read_items(texts)
    emit_lines(items, SLM().extract(items, schema=parsed, generator=model))


def summarize(texts: Annotated[list[str] | None, typer.Argument()] = None,
              max_words: Annotated[int, typer.Option(help="Upper bound on summary length.")] = 60,
              model: Annotated[str | None, typer.Option(help="Catalog name of the generator.")] = None) -> None:
    """Short summaries with the local generator; one JSON line per text."""
    from slmkit.api import SLM

    items = read_items(texts)
    emit_lines(items, SLM().summarize(items, max_words=max_words, generator=model))


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
        write_json_line(to_json(result.to_dict()))
