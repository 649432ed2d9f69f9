"""`slmkit route ask | match | fit-routes | calibrate`: the router from the command line.

Commands import the router in their body: it pulls in the settings (pydantic), the tiers and the encoders,
and `slmkit --help` should not pay for them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from slmkit.cli._io import console, emit_lines, out, progress_bar, read_items
from slmkit.config.router import Strategy
from slmkit.errors import InvalidInputError

route_app = typer.Typer(help="Send requests to the cheapest tier that answers them well.", no_args_is_help=True)

@route_app.command("ask")
def ask_cmd(
    text: Annotated[str, typer.Argument(help="The request.")],
    strategy: Annotated[Strategy | None, typer.Option(help="Override the configured strategy.")] = None,
    tier: Annotated[str | None, typer.Option(help="Pin a tier by name.")] = None,
    routes: Annotated[Path | None, typer.Option(help="A YAML file of semantic routes.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, max=4096)] = 256,
) -> None:
    """Route one request, answer it, and print the decision record (JSON) after the answer."""
    from slmkit.router.router import Router
    from slmkit.router.semantic import SemanticRouter

    semantic = SemanticRouter.from_yaml(routes) if routes else None
    router = Router(semantic=semantic)
    with console.status("routing..."):
        result = router.run([{"role": "user", "content": text}], tier=tier, strategy=strategy, max_tokens=max_tokens)
    if result.answer is not None:
        out.print(result.answer.completion.text)
    console.print_json(json.dumps(result.decision.to_dict()))


@route_app.command("match")
def match_cmd(
    texts: Annotated[list[str] | None, typer.Argument(help="Queries; stdin, one per line, when omitted.")] = None,
    routes: Annotated[Path, typer.Option(help="A YAML file of semantic routes.")] = Path("routes.yaml"),
) -> None:
    """Semantic routing only: which route each query takes, with its score (JSON lines)."""
    from slmkit.router.semantic import SemanticRouter

    router = SemanticRouter.from_yaml(routes).warm_up()
    items = read_items(texts)
    emit_lines(items, [router(t) for t in items])


def _labelled_rows(labelled: Path) -> list[tuple[str, str | None]]:
    """(text, route) pairs from a JSONL file; route null means 'no route'."""
    rows = []
    for number, line in enumerate(labelled.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
                rows.append((str(row["text"]), row.get("route")))
            except (ValueError, KeyError, TypeError):
                raise InvalidInputError(f"{labelled}:{number}: expected a JSON object with text and route") from None
    return rows


@route_app.command("fit-routes")
def fit_routes_cmd(
    routes: Annotated[Path, typer.Option(help="The YAML file of routes; thresholds are written back to it.")],
    labelled: Annotated[Path, typer.Option(help="JSONL of {text, route}; route null means 'no route'.")],
) -> None:
    """Fit every route's threshold on labelled queries and save them in the routes file."""
    from slmkit.router.semantic import SemanticRouter

    rows = _labelled_rows(labelled)
    router = SemanticRouter.from_yaml(routes)
    thresholds = router.fit([t for t, _ in rows], [r for _, r in rows])
    router.to_yaml(routes)
    out.print_json(json.dumps(thresholds))


@route_app.command("calibrate")
def calibrate_cmd(
    outcomes: Annotated[Path | None, typer.Option(help="JSONL outcome records; default: the training half of "
                                                  "the MMLU outcome table `slmkit bench route` builds.")] = None,
    target_large_share: Annotated[float | None, typer.Option(min=0.0, max=1.0)] = None,
    target_quality: Annotated[float | None, typer.Option(min=0.0, max=1.0,
                                                         help="Fraction of the large tier's quality.")] = None,
) -> None:
    """Fit the learned router, the combiner and the thresholds; saved in the data dir for `route ask`."""
    from slmkit.router import calibration

    if target_large_share is None and target_quality is None:
        target_large_share = 0.5
    if outcomes is not None:
        records, source = calibration.read_records(outcomes), str(outcomes)
    else:
        from slmkit.bench.route import training_records
        from slmkit.config import get_settings
        from slmkit.router.outcomes import build_outcomes

        s = get_settings().router
        small, large = s.tiers[s.small_tier].model, s.tiers[s.large_tier].model
        with progress_bar("MMLU outcomes (cached after the first run)", 57 * 14) as advance:
            path, rows = build_outcomes(small, large, progress=advance)
        records, source = training_records(rows), f"{path} (training half)"
    with console.status(f"calibrating on {len(records)} records..."):
        result, router = calibration.calibrate(records, target_large_share, target_quality, source)
        path = calibration.save(result, router)
    out.print_json(json.dumps({**result.__dict__, "saved": str(path)}))
