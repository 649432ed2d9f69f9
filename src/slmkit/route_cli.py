"""`slmkit route ...` and `slmkit bench route | semantic-routes`: the router from the command line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.table import Table

from slmkit.errors import InvalidInputError

route_app = typer.Typer(help="Send requests to the cheapest tier that answers them well.", no_args_is_help=True)

StrategyOption = Literal["small", "large", "cascade", "learned", "combined"]


def _ui():  # noqa: ANN202
    from slmkit import cli  # here, not at import: cli imports this module

    return cli


@route_app.command("ask")
def ask_cmd(
    text: Annotated[str, typer.Argument(help="The request.")],
    strategy: Annotated[StrategyOption | None, typer.Option(help="Override the configured strategy.")] = None,
    tier: Annotated[str | None, typer.Option(help="Pin a tier by name.")] = None,
    routes: Annotated[Path | None, typer.Option(help="A YAML file of semantic routes.")] = None,
    max_tokens: Annotated[int, typer.Option(min=1, max=4096)] = 256,
) -> None:
    """Route one request, answer it, and print the decision record (JSON) after the answer."""
    from slmkit.router.router import Router
    from slmkit.router.semantic import SemanticRouter

    ui = _ui()
    semantic = SemanticRouter.from_yaml(routes) if routes else None
    router = Router(semantic=semantic)
    with ui.console.status("routing..."):
        result = router.run([{"role": "user", "content": text}], tier=tier, strategy=strategy, max_tokens=max_tokens)
    if result.answer is not None:
        ui.out.print(result.answer.completion.text)
    ui.console.print_json(json.dumps(result.decision.to_dict()))


@route_app.command("match")
def match_cmd(
    texts: Annotated[list[str] | None, typer.Argument(help="Queries; stdin, one per line, when omitted.")] = None,
    routes: Annotated[Path, typer.Option(help="A YAML file of semantic routes.")] = Path("routes.yaml"),
) -> None:
    """Semantic routing only: which route each query takes, with its score (JSON lines)."""
    from slmkit.router.semantic import SemanticRouter

    ui = _ui()
    router = SemanticRouter.from_yaml(routes).warm_up()
    items = ui.read_items(texts)
    ui.emit_lines(items, [router(t) for t in items])


@route_app.command("fit-routes")
def fit_routes_cmd(
    routes: Annotated[Path, typer.Option(help="The YAML file of routes; thresholds are written back to it.")],
    labelled: Annotated[Path, typer.Option(help="JSONL of {text, route}; route null means 'no route'.")],
) -> None:
    """Fit every route's threshold on labelled queries and save them in the routes file."""
    from slmkit.router.semantic import SemanticRouter

    ui = _ui()
    rows = []
    for number, line in enumerate(labelled.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
                rows.append((str(row["text"]), row.get("route")))
            except (ValueError, KeyError, TypeError):
                raise InvalidInputError(f"{labelled}:{number}: expected a JSON object with text and route") from None
    router = SemanticRouter.from_yaml(routes)
    thresholds = router.fit([t for t, _ in rows], [r for _, r in rows])
    router.to_yaml(routes)
    ui.out.print_json(json.dumps(thresholds))


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

    ui = _ui()
    if target_large_share is None and target_quality is None:
        target_large_share = 0.5
    if outcomes is not None:
        records, source = calibration.read_records(outcomes), str(outcomes)
    else:
        from slmkit.config import get_settings
        from slmkit.evals.bench_route import training_records
        from slmkit.router.outcomes import build_outcomes

        s = get_settings().router
        small, large = s.tiers[s.small_tier].model, s.tiers[s.large_tier].model
        with ui.progress_bar("MMLU outcomes (cached after the first run)", 57 * 14) as advance:
            path, rows = build_outcomes(small, large, progress=advance)
        records, source = training_records(rows), f"{path} (training half)"
    with ui.console.status(f"calibrating on {len(records)} records..."):
        result, router = calibration.calibrate(records, target_large_share, target_quality, source)
        path = calibration.save(result, router)
    ui.out.print_json(json.dumps({**result.__dict__, "saved": str(path)}))


def bench_route_cmd(
    per_topic: Annotated[int, typer.Option(min=2, help="Questions per MMLU topic (57 topics).")] = 14,
    seed: int = 13,
    threads: Annotated[int, typer.Option(min=1, max=64, help="llama.cpp threads while building the table; "
                                         "1 when something else holds a core (spinning threads stall).")] = 2,
    out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None,
) -> None:
    """Both local tiers on stratified MMLU (cached), then every routing strategy on the held-out half."""
    from slmkit.config import get_settings
    from slmkit.evals.bench_route import plot_route, run_route_bench
    from slmkit.evals.report import default_out, write_json

    ui = _ui()
    s = get_settings().router
    small, large = s.tiers[s.small_tier], s.tiers[s.large_tier]
    if small.kind != "local" or large.kind != "local":
        raise InvalidInputError("bench route scores answer letters by log-probability: both tiers must be local")
    with ui.progress_bar(f"MMLU outcomes, {small.model} and {large.model}", 57 * per_topic) as advance:
        bench = run_route_bench(small.model, large.model, per_topic, seed, threads, progress=advance)
    table = Table(title=f"routing on {bench.n_test} held-out MMLU questions "
                        f"(trained and calibrated on {bench.n_train} others)")
    for col in ("strategy", "APGR", "share for 50% / 80% / 95% of gap", "at 50% share: large calls",
                "accuracy", "of large", "USD per 1k questions"):
        table.add_column(col, justify="left" if col == "strategy" else "right")
    for c in bench.curves:
        op = c.operating.get("share", {})
        reach = " / ".join("-" if v is None else f"{v:.2f}" for v in c.share_for_gap.values())
        table.add_row(c.strategy, "-" if c.apgr != c.apgr else f"{c.apgr:.3f}", reach, f"{op.get('large_share', float('nan')):.2f}",
                      f"{op.get('accuracy', float('nan')):.3f}", f"{op.get('of_large', float('nan')):.3f}",
                      f"{bench.costs.get(c.strategy, float('nan')):.4f}")
    ui.out.print(table)
    for tier, info in bench.tiers.items():
        ui.out.print(f"{tier}: accuracy {info['accuracy']:.3f} (raw letters {info['accuracy_raw']:.3f}; "
                     f"letter prior A-D {info['letter_prior']})")
    for c in bench.curves:
        if "quality" in c.operating:
            q = c.operating["quality"]
            ui.out.print(f"{c.strategy}, threshold for 95% of large quality: large share {q['large_share']:.2f}, "
                         f"accuracy {q['accuracy']:.3f} ({q['of_large']:.3f} of large)")
    path = write_json(out_path or default_out("bench", "route"), bench.to_dict())
    png = plot_route(bench, path.with_suffix(".png"))
    ui.console.print(f"report: {path}\nplot: {png}")


def bench_semantic_cmd(
    peer_python: Annotated[str | None, typer.Option(help="Interpreter with semantic-router installed.")]
    = ".venv-peers/bin/python",
    no_peer: Annotated[bool, typer.Option("--no-peer", help="Measure slmkit only.")] = False,
    model: Annotated[str | None, typer.Option(help="Encoder catalog name.")] = None,
    out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None,
) -> None:
    """Semantic routing on SNIPS (6 routes + a held-out intent as 'no route', 7 folds), vs semantic-router."""
    from slmkit.evals.bench_semantic import bench_semantic
    from slmkit.evals.report import default_out, write_json

    ui = _ui()
    peer = None if no_peer else peer_python
    if peer and not Path(peer).exists():
        raise InvalidInputError(f"{peer} not found: run `make peers` (or pass --no-peer)")
    with ui.progress_bar("semantic routing folds", 7) as advance:
        result = bench_semantic(peer, model, progress=advance)
    table = Table(title="semantic routing on SNIPS, one query per call, 1 thread, embedding included")
    for col in ("system", "accuracy", "p50 ms", "p95 ms", "decisions"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for name, s in result["systems"].items():
        table.add_row(name + (f" {s['version']}" if s.get("version") else ""), f"{s['accuracy']:.4f}",
                      f"{s['p50_ms']:.2f}", f"{s['p95_ms']:.2f}", str(s["decisions"]))
    ui.out.print(table)
    path = write_json(out_path or default_out("bench", "semantic-routes"), result)
    ui.console.print(f"report: {path}")
