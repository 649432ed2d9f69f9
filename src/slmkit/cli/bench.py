"""`slmkit bench ...`: speed and memory, side by side with a baseline; each writes a JSON report.

Commands import the benchmarks in their body: they pull in the runtimes, the settings (pydantic) and
plotting, and `slmkit --help` should not pay for them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from slmkit.cli._io import console, out, progress_bar
from slmkit.errors import InvalidInputError

bench_app = typer.Typer(help="Speed and memory, side by side with a baseline.", no_args_is_help=True)

OutOption = Annotated[Path | None, typer.Option("--out", help="JSON report path.")]


@bench_app.command("route")
def bench_route_cmd(
    per_topic: Annotated[int, typer.Option(min=2, help="Questions per MMLU topic (57 topics).")] = 14,
    seed: int = 13,
    threads: Annotated[int, typer.Option(min=1, max=64, help="llama.cpp threads while building the table; "
                                         "1 when something else holds a core (spinning threads stall).")] = 2,
    out_path: OutOption = None,
) -> None:
    """Both local tiers on stratified MMLU (cached), then every routing strategy on the held-out half."""
    from slmkit.bench.route import plot_route, run_route_bench
    from slmkit.config import get_settings
    from slmkit.reports import default_out, write_json

    s = get_settings().router
    small, large = s.tiers[s.small_tier], s.tiers[s.large_tier]
    if small.kind != "local" or large.kind != "local":
        raise InvalidInputError("bench route scores answer letters by log-probability: both tiers must be local")
    with progress_bar(f"MMLU outcomes, {small.model} and {large.model}", 57 * per_topic) as advance:
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
    out.print(table)
    for tier, info in bench.tiers.items():
        out.print(f"{tier}: accuracy {info['accuracy']:.3f} (raw letters {info['accuracy_raw']:.3f}; "
                  f"letter prior A-D {info['letter_prior']})")
    for c in bench.curves:
        if "quality" in c.operating:
            q = c.operating["quality"]
            out.print(f"{c.strategy}, threshold for 95% of large quality: large share {q['large_share']:.2f}, "
                      f"accuracy {q['accuracy']:.3f} ({q['of_large']:.3f} of large)")
    path = write_json(out_path or default_out("bench", "route"), bench.to_dict())
    png = plot_route(bench, path.with_suffix(".png"))
    console.print(f"report: {path}\nplot: {png}")


@bench_app.command("semantic-routes")
def bench_semantic_cmd(
    peer_python: Annotated[str | None, typer.Option(help="Interpreter with semantic-router installed.")]
    = ".venv-peers/bin/python",
    no_peer: Annotated[bool, typer.Option("--no-peer", help="Measure slmkit only.")] = False,
    model: Annotated[str | None, typer.Option(help="Encoder catalog name.")] = None,
    out_path: OutOption = None,
) -> None:
    """Semantic routing on SNIPS (6 routes + a held-out intent as 'no route', 7 folds), vs semantic-router."""
    from slmkit.bench.semantic import bench_semantic
    from slmkit.reports import default_out, write_json

    peer = None if no_peer else peer_python
    if peer and not Path(peer).exists():
        raise InvalidInputError(f"{peer} not found: run `make peers` (or pass --no-peer)")
    with progress_bar("semantic routing folds", 7) as advance:
        result = bench_semantic(peer, model, progress=advance)
    table = Table(title="semantic routing on SNIPS, one query per call, 1 thread, embedding included")
    for col in ("system", "accuracy", "p50 ms", "p95 ms", "decisions"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for name, s in result["systems"].items():
        table.add_row(name + (f" {s['version']}" if s.get("version") else ""), f"{s['accuracy']:.4f}",
                      f"{s['p50_ms']:.2f}", f"{s['p95_ms']:.2f}", str(s["decisions"]))
    out.print(table)
    path = write_json(out_path or default_out("bench", "semantic-routes"), result)
    console.print(f"report: {path}")


@bench_app.command("gateway")
def bench_gateway_cmd(
    litellm: Annotated[str | None, typer.Option(help="The LiteLLM proxy executable (from `make peers`).")]
    = ".venv-peers/bin/litellm",
    no_peer: Annotated[bool, typer.Option("--no-peer", help="Measure slmkit only.")] = False,
    requests: Annotated[int, typer.Option(min=50, help="Sequential requests per target for latency.")] = 400,
    seconds: Annotated[float, typer.Option(min=1.0, help="Seconds per concurrency level for throughput.")] = 5.0,
    out_path: OutOption = None,
) -> None:
    """Gateway overhead (added latency p50/p95/p99, max sustained req/s) vs the LiteLLM proxy, same upstream."""
    from slmkit.bench.gateway import bench_gateway
    from slmkit.reports import default_out, write_json

    peer = None if no_peer else litellm
    if peer and not Path(peer).exists():
        raise InvalidInputError(f"{peer} not found: run `make peers` (or pass --no-peer)")
    with progress_bar("gateway bench (latency, then load, per target)", 6 if peer else 4) as advance:
        result = bench_gateway(peer, requests, seconds, progress=advance)
    table = Table(title=f"pass-through to an instant upstream, {requests} sequential requests, "
                        f"load {seconds:g} s per concurrency level")
    for col in ("target", "p50 ms", "added p50", "added p95", "added p99", "max sustained req/s"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for name, row in result["targets"].items():
        table.add_row(name, f"{row['latency_p50_ms']:.2f}", f"{row['added_p50_ms']:.2f}",
                      f"{row['added_p95_ms']:.2f}", f"{row['added_p99_ms']:.2f}", f"{row['max_sustained_rps']:.0f}")
    out.print(table)
    if "ratio_added_p50" in result:
        out.print(f"slmkit / LiteLLM: added p50 latency {result['ratio_added_p50']:.2f}x, "
                  f"throughput {result['ratio_rps']:.2f}x")
    spec = result["routed_to_specialist_ms"]
    out.print(f"routed request answered by a specialist (sentiment), end to end: p50 {spec['p50']:.1f} ms, "
              f"p95 {spec['p95']:.1f} ms")
    path = write_json(out_path or default_out("bench", "gateway"), result)
    console.print(f"report: {path}")


@bench_app.command("soak")
def bench_soak_cmd(
    minutes: Annotated[float, typer.Option(min=0.1, help="How long to hold the load.")] = 10.0,
    rps: Annotated[float, typer.Option(min=0.1, help="Requests per second (open loop).")] = 10.0,
    out_path: OutOption = None,
) -> None:
    """A steady mixed load on a real gateway for minutes: errors, latency, and memory at start and end."""
    from slmkit.bench.soak import soak
    from slmkit.reports import default_out, write_json

    with console.status(f"soak: {rps:g} req/s for {minutes:g} min..."):
        result = soak(minutes, rps)
    rss = result["rss_mb"]
    out.print(f"{result['requests']} requests, {result['errors']} errors, {result['logged_requests']} of "
              f"{result['sent_requests']} sent (warm-up included) in the request log; latency p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
              f"p99 {result['p99_ms']:.1f} ms")
    out.print(f"server RSS: start {rss[0][1]:.0f} MB, end {rss[-1][1]:.0f} MB, max {max(m for _, m in rss):.0f} MB")
    for sample in result["error_samples"]:
        out.print(f"  error: {sample}")
    path = write_json(out_path or default_out("bench", "soak"), result)
    console.print(f"report: {path}")


@bench_app.command("rag")
def bench_rag_cmd(
    synthetic_chunks: Annotated[int, typer.Option(min=1000, help="Size of the synthetic corpus.")] = 100_000,
    queries: Annotated[int, typer.Option(min=10, help="Timed queries per corpus.")] = 200,
    reuse: Annotated[bool, typer.Option("--reuse", help="Keep a synthetic index already built by an earlier "
                                        "run (query timings only for it).")] = False,
    skip_squad: Annotated[bool, typer.Option("--skip-squad", help="Only the synthetic corpus.")] = False,
    seed: int = 13,
    out_path: OutOption = None,
) -> None:
    """Ingest throughput, index size and query latency p50/p95 on SQuAD dev and a synthetic corpus."""
    from slmkit.bench import rag as bench
    from slmkit.reports import default_out, write_json

    report = bench.run(synthetic_chunks=synthetic_chunks, queries=queries, reuse=reuse, squad=not skip_squad,
                       seed=seed, bar=progress_bar)
    bench.print_report(report, out)
    path = write_json(out_path or default_out("bench", "rag"), report)
    console.print(f"report: {path}")


@bench_app.command("encoders")
def bench_encoders_cmd(
    threads: Annotated[int, typer.Option(min=1, max=64)] = 1,
    baseline_python: Annotated[str | None, typer.Option(help="Interpreter with torch + sentence-transformers.")]
    = ".venv-baseline/bin/python",
    no_baseline: Annotated[bool, typer.Option("--no-baseline", help="Measure ONNX only.")] = False,
    out_path: OutOption = None,
) -> None:
    """ONNX int8 MiniLM vs sentence-transformers/torch fp32, side by side; plus start-up costs."""
    from slmkit.bench.encoders import bench_encoders, plot_encoders
    from slmkit.reports import default_out, write_json

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
    out_path: OutOption = None,
) -> None:
    """Latency per item (p50/p95), load time and peak RSS of each specialist, and of the crew together."""
    from slmkit.bench.specialists import (
        CREW_TARGET_MB,
        ENCODER_SKILLS,
        GENERATOR_SKILLS,
        bench_specialists,
        plot_specialists,
    )
    from slmkit.reports import default_out, write_json

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


@bench_app.command("distill")
def bench_distill_cmd(
    teacher: Annotated[Literal["gold", "local"], typer.Option(
        help="gold: a simulated remote large tier answering with the data set's gold label at a list price; "
             "local: the local large tier (its answers cached after the first run).")] = "gold",
    flip: Annotated[str | None, typer.Option(help="A closed-label template whose labels the gold teacher permutes "
                                             "from the stream's midpoint (the drift test).")] = None,
    requests: Annotated[int | None, typer.Option(
        min=100, help="Stream length: the default mix scaled to this many requests (default 3,000).")] = None,
    seed: int = 13,
    seeds: Annotated[str | None, typer.Option(
        help="Comma-separated seeds: one replay each (gold teacher) and a table of their spread.")] = None,
    ceiling_only: Annotated[bool, typer.Option(
        "--ceiling-only", help="No replay: score every candidate on every request of each closed-label template "
                               "(gold teacher), the share each would serve; minutes.")] = False,
    out_path: OutOption = None,
) -> None:
    """Replay a seeded mixed stream through the distiller: share served, agreement, cost, per template."""
    from slmkit.bench import distill as bench
    from slmkit.config import get_settings
    from slmkit.reports import default_out, write_json

    if ceiling_only:
        if teacher != "gold" or flip is not None or seeds is not None:
            raise InvalidInputError("--ceiling-only reads the simulated gold teacher, one seed, without --flip")
        _distill_ceiling(seed, requests, out_path)
        return
    if seeds is not None:
        if teacher != "gold" or flip is not None:
            raise InvalidInputError("--seeds replays the simulated gold teacher only, without --flip")
        _distill_seeds(_ints(seeds, "--seeds", low=0, high=2**31 - 1), requests, out_path)
        return
    if flip is not None and flip not in bench.CLOSED:
        raise InvalidInputError(f"--flip takes a closed-label template: {', '.join(bench.CLOSED)}")
    if flip is not None and teacher != "gold":
        raise InvalidInputError("--flip permutes the simulated teacher's labels: use it with --teacher gold")
    mix = bench.scaled_mix(requests) if requests else None
    stream, teach = bench.build_stream(mix, seed), None
    if teacher == "local":  # the teacher's answers first (cached for re-runs), so the replay's bar means the replay
        teach = bench.cached_local_teacher()
        with progress_bar("local teacher's answers", len(teach.missing(stream))) as advance:
            teach.fill(stream, advance)
    with progress_bar(f"distill replay, teacher {teacher}", len(stream)) as advance:
        result = bench.run(teacher=teacher, mix=mix, seed=seed, settings=get_settings().distill, flip=flip,
                           progress=advance, stream=stream, cached=teach)
    who = "gold (simulated: the data set's gold label at a list price)" if result["simulated"] else teacher
    table = Table(title=f"distill replay of {result['requests']} requests, teacher: {who}; "
                        f"figures over the {result['window']}")
    for col in ("template", "requests", "share served", "ceiling", "agreement", "Wilson LB", "cost ratio", "p50 ms",
                "p95 ms"):
        table.add_column(col, justify="left" if col == "template" else "right")
    ceilings = result.get("ceiling", {})

    def row(name: str, s: dict, style: str | None = None, top: dict | None = None) -> None:
        bound = "-" if top is None or "coverage" not in top else f"{top['coverage']:.0%}"
        table.add_row(name, str(s["requests"]), f"{s['share_served']:.0%}", bound, _cell(s["agreement_served"], ".3f"),
                      _cell(s["agreement_wilson_low"], ".3f"), _cell(s["cost_ratio"], ".2f"),
                      _cell(s["student_p50_ms"], ".1f"), _cell(s["student_p95_ms"], ".1f"), style=style)

    for source, summary in result["per_template"].items():
        row(source + ("" if source in result["closed_sources"] else " (open)"), summary, top=ceilings.get(source))
    table.add_section()
    templated = result.get("ceiling_templated")
    row("closed-label templates", result["templated_closed"], top=None if templated is None else {"coverage": templated})
    row("overall", result["whole_stream_second_half"], style="bold")
    out.print(table)
    overall = result["whole_stream_second_half"]
    out.print(f"cost per 1k requests: {_cell(overall['cost_per_1k_requests_usd'], '.4f')} USD with distillation, "
              f"{_cell(overall['cost_per_1k_requests_always_teacher_usd'], '.4f')} USD always asking the teacher; "
              f"{len(result['promotions'])} promotions in {result['seconds']:.0f} s")
    if ceilings:
        out.print("ceiling: the share the best candidate would serve had it seen every request of the stream "
                  "(out-of-fold, same threshold rule); the online student serves at most about this. Best candidates: "
                  + "; ".join(f"{source} {top['candidate']}" for source, top in ceilings.items() if "candidate" in top))
    drift = result.get("drift")
    if drift is not None:
        if drift["demoted_at"] is not None:
            out.print(f"drift: {flip}'s labels flipped at request {drift['flip_at']}, demoted at {drift['demoted_at']} "
                      f"after {drift['served_until_demotion']} served requests of it - {escape(drift['reason'])}")
        else:
            out.print(f"drift: {flip}'s labels flipped at request {drift['flip_at']}, [red]not demoted[/red] "
                      f"({drift['served_after_flip']} served after the flip)")
    name = f"distill-{teacher}" + (f"-flip-{flip}" if flip else "")
    path = write_json(out_path or default_out("bench", name), result)
    png = bench.plot(result, path.with_suffix(".png"))
    console.print(f"report: {path}\nplot: {png}")


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _distill_ceiling(seed: int, requests: int | None, out_path: Path | None) -> None:
    """``bench distill --ceiling-only``: every candidate's share on every request, per closed-label template."""
    from slmkit.bench import distill as bench
    from slmkit.config import get_settings
    from slmkit.reports import default_out, write_json

    mix = bench.scaled_mix(requests) if requests else None
    with progress_bar("scoring candidates per template", len(bench.CLOSED)) as advance:
        result = bench.run_ceiling(mix=mix, seed=seed, settings=get_settings().distill, progress=advance)
    table = Table(title=f"distill candidates on every request of {result['requests']} requests (seed {seed}), "
                        "teacher: gold (simulated); out-of-fold, the distiller's threshold rule")
    for col in ("template", "candidate", "examples", "agreement", "serves", "p50 ms", "note"):
        table.add_column(col, justify="left" if col in ("template", "candidate", "note") else "right")
    for source, c in result["ceiling"].items():
        if "candidates" not in c:
            table.add_row(source, "-", "-", "-", "-", "-", escape(c.get("error", "")))
            continue
        for name, r in sorted(c["candidates"].items(), key=lambda kv: -kv[1]["coverage"]):
            best = name == c["candidate"] and c["meets"]  # else no candidate serves the template at all
            table.add_row(source, escape(name) + (" (best)" if best else ""), str(c["examples"]),
                          f"{r['agreement']:.3f}", f"{r['coverage']:.0%}", f"{r['p50_ms']:.1f}", escape(r["note"]),
                          style="bold" if best else None)
        table.add_section()
    out.print(table)
    out.print(f"templated ceiling: {_cell(result['ceiling_templated'], '.0%')} of closed-label requests, "
              f"in {result['seconds']:.0f} s")
    if result["encoders_not_installed"]:
        console.print("[yellow]not tried, not installed:[/yellow] " + ", ".join(result["encoders_not_installed"])
                      + " (`slmkit models list` says how to get each)")
    path = write_json(out_path or default_out("bench", "distill-ceiling"), result)
    png = bench.plot_ceiling(result, path.with_suffix(".png"))
    console.print(f"report: {path}\nplot: {png}")


def _distill_seeds(seeds: list[int], requests: int | None, out_path: Path | None) -> None:
    """``bench distill --seeds``: one gold replay per seed, then the spread of the templated figures."""
    from slmkit.bench import distill as bench
    from slmkit.config import get_settings
    from slmkit.reports import default_out, write_json

    mix = bench.scaled_mix(requests) if requests else None
    results = []
    for seed in seeds:
        stream = bench.build_stream(mix, seed)
        with progress_bar(f"distill replay, seed {seed}", len(stream)) as advance:
            results.append(bench.run(teacher="gold", mix=mix, seed=seed, settings=get_settings().distill,
                                     progress=advance, stream=stream))
    summary = bench.across_seeds(results)
    sources = results[0]["closed_sources"]
    table = Table(title=f"distill replay across {len(seeds)} seeds, teacher: gold (simulated); templated "
                        f"closed-label requests, second half of each stream")
    for col in ("seed", "served", "ceiling", "agreement", "Wilson LB", "cost ratio", "whole stream"):
        table.add_column(col, justify="right")
    columns = (("share_served", ".0%"), ("ceiling_templated", ".0%"), ("agreement_served", ".3f"),
               ("agreement_wilson_low", ".3f"), ("cost_ratio", ".2f"), ("whole_stream_cost_ratio", ".2f"))
    for r in summary["runs"]:
        table.add_row(str(r["seed"]), *(_cell(r[key], spec) for key, spec in columns))
    table.add_section()
    spread = summary["spread"]
    for stat in ("mean", "min", "max"):
        table.add_row(stat, *(_cell(None if spread[key] is None else spread[key][stat], spec) for key, spec in columns),
                      style="bold" if stat == "mean" else None)
    out.print(table)
    shares = Table(title="share served per template")
    for col in ("seed", *sources):
        shares.add_column(col, justify="right")
    for r in summary["runs"]:
        shares.add_row(str(r["seed"]), *(f"{r['per_template'][source]:.0%}" for source in sources))
    out.print(shares)
    path = write_json(out_path or default_out("bench", "distill-gold-seeds"), summary)
    png = bench.plot_seeds(summary, path.with_suffix(".png"))
    console.print(f"report: {path}\nplot: {png}")


def _ints(text: str, option: str, low: int = 1, high: int = 64) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(f"{option} takes comma-separated whole numbers, e.g. 1,2,4,8") from None
    if not values or min(values) < low or max(values) > high:
        raise InvalidInputError(f"{option} takes numbers from {low} to {high}")
    return values


MIXED_CALLS = 200  # timed calls per specialist and phase: enough for a p95 that is not one outlier


@bench_app.command("generate")
def bench_generate_cmd(
    concurrency: Annotated[str, typer.Option(help="Concurrent closed-loop chats per level.")] = "1,2,4,8",
    # 24, not fewer: a level's last chats run with fewer than `concurrency` in flight, and with 8 chats at
    # concurrency 4 that tail was a quarter of the window (c4 ratio 1.79-2.00 over four runs at 8, 2.02-2.05 at 24).
    requests: Annotated[int, typer.Option(min=1, max=1000, help="Chats per level (at least the concurrency).")] = 24,
    threads: Annotated[str, typer.Option(help="llama.cpp threads per generator, each measured.")] = "2",
    slots: Annotated[str | None, typer.Option(help="Server slots, each measured (default: router.slots).")] = None,
    poll: Annotated[str | None, typer.Option(help="llama.cpp --poll of the child, each measured "
                                             "(default: router.server_poll).")] = None,
    model: Annotated[str | None, typer.Option(help="Catalog name (default: the small tier's model).")] = None,
    mixed: Annotated[bool, typer.Option(help="Also the mixed load: specialists' p95 through `slmkit serve`, "
                                        "alone and with chats on the small tier.")] = True,
    out_path: OutOption = None,
) -> None:
    """The small tier under concurrent 64-token chats: in-process runtime vs llama-server, in one run."""
    from slmkit.bench.generators import bench_generators, bench_mixed, plot_generators
    from slmkit.config import get_settings
    from slmkit.reports import default_out, write_json

    s = get_settings().router
    model = model or s.tiers[s.small_tier].model
    levels, thread_list = _ints(concurrency, "--concurrency"), _ints(threads, "--threads")
    slot_list = _ints(slots, "--slots") if slots else [s.slots]
    poll_list = _ints(poll, "--poll", low=0, high=100) if poll else [s.server_poll]
    variants = len(thread_list) * (1 + len(slot_list) * len(poll_list))
    with progress_bar(f"generate bench, {model}", variants * len(levels)) as advance:
        result = bench_generators(model, levels, requests, thread_list, slot_list, poll_list, progress=advance)
    table = Table(title=f"{model}: {requests} greedy {result['max_tokens']}-token chats per level, closed loop, "
                        f"{result['cpu_count']} cores")
    for col in ("runtime", "concurrency", "tokens/s", f"x {result['baseline']}", "same answers",
                "TTFT p50 ms", "TTFT p95 ms", "total p50 ms", "total p95 ms", "errors"):
        table.add_column(col, justify="left" if col == "runtime" else "right")
    for lv in result["levels"]:
        r, c = lv["runtime"], lv["concurrency"]
        ratio = result["tokens_per_s_ratio_vs_baseline"].get(r, {}).get(c)
        table.add_row(r, str(c), f"{lv['tokens_per_s']:.1f}", "-" if ratio is None else f"{ratio:.2f}",
                      result["same_greedy_answers"].get(r, {}).get(c, "-"), f"{lv['ttft_p50_ms']:.0f}",
                      f"{lv['ttft_p95_ms']:.0f}", f"{lv['total_p50_ms']:.0f}", f"{lv['total_p95_ms']:.0f}",
                      str(lv["errors"]))
    out.print(table)
    if mixed:
        nices = sorted({0, s.server_nice})
        with progress_bar("mixed load through the gateway", 2 * len(nices)) as advance:
            result["mixed"] = [bench_mixed(model, max(levels), MIXED_CALLS, nice, progress=advance) for nice in nices]
        mix = Table(title=f"specialists through `slmkit serve`, alone vs with {max(levels)} concurrent chats on "
                          f"{model}, per niceness of the generator's child (router.server_nice: {s.server_nice})")
        for col in ("child nice", "specialist", "idle p50 ms", "idle p95 ms", "loaded p50 ms", "loaded p95 ms",
                    "p95 ratio", "chats ok/failed"):
            mix.add_column(col, justify="left" if col == "specialist" else "right")
        for run in result["mixed"]:
            for name, row in run["specialists"].items():
                mix.add_row(str(run["server_nice"]), name, f"{row['idle_p50_ms']:.1f}", f"{row['idle_p95_ms']:.1f}",
                            f"{row['loaded_p50_ms']:.1f}", f"{row['loaded_p95_ms']:.1f}", f"{row['p95_ratio']:.2f}",
                            f"{run['chats_ok']}/{run['chats_failed']}")
        out.print(mix)
    path = write_json(out_path or default_out("bench", "generate"), result)
    png = plot_generators(result, path.with_suffix(".png"))
    console.print(f"report: {path}\nplot: {png}")


@bench_app.command("scale")
def bench_scale_cmd(
    targets: Annotated[str, typer.Option(help="single (`slmkit serve`, the baseline), ray-1, ray-2 (replicas per "
                                         "ingress/encoder/token deployment).")] = "single,ray-1,ray-2",
    workloads: Annotated[str, typer.Option(help="embeddings, skill (pii), chat (8 tokens, small tier).")]
    = "embeddings,skill,chat",
    concurrency: Annotated[str, typer.Option(help="Closed-loop clients, comma-separated.")] = "1,8,32",
    seconds: Annotated[float, typer.Option(min=1.0, help="Seconds per target x workload x concurrency.")] = 10.0,
    out_path: OutOption = None,
) -> None:
    """One process vs Ray Serve with 1 and 2 replicas: throughput, p50/p95, Serve's added latency (needs the ray extra)."""
    from slmkit.bench.scale import TARGETS, WORKLOADS, bench_scale, plot_scale
    from slmkit.config import get_settings
    from slmkit.reports import default_out, write_json

    chosen = [t.strip() for t in targets.split(",") if t.strip()]
    kinds = [w.strip() for w in workloads.split(",") if w.strip()]
    if not chosen or set(chosen) - set(TARGETS):
        raise InvalidInputError(f"--targets takes {', '.join(TARGETS)}")
    if not kinds or set(kinds) - set(WORKLOADS):
        raise InvalidInputError(f"--workloads takes {', '.join(WORKLOADS)}")
    try:
        levels = sorted({int(c) for c in concurrency.split(",") if c.strip()})
    except ValueError:
        raise InvalidInputError("--concurrency takes whole numbers, e.g. 1,8,32") from None
    if not levels or levels[0] < 1 or levels[-1] > 256:
        raise InvalidInputError("--concurrency takes numbers from 1 to 256")
    with progress_bar("scale bench (target x workload x concurrency)", len(chosen) * len(kinds) * len(levels)) \
            as advance:
        result = bench_scale(get_settings(), chosen, kinds, levels, seconds, progress=advance)
    table = Table(title=f"closed loop, {seconds:g} s per cell, {result['cores']} cores; baseline: single process")
    for col in ("target", "workload", "clients", "req/s", "p50 ms", "p95 ms", "errors", "req/s vs single"):
        table.add_column(col, justify="left" if col in ("target", "workload") else "right")
    for row in result["cells"]:
        ratio = result["ratios"].get(f"{row['target']}/{row['workload']}/c{row['concurrency']}", {})
        table.add_row(row["target"], row["workload"], str(row["concurrency"]), f"{row['rps']:.1f}",
                      f"{row['p50_ms']:.1f}", f"{row['p95_ms']:.1f}", str(row["errors"]),
                      "-" if not ratio.get("rps_vs_single") else f"{ratio['rps_vs_single']:.2f}x")
    out.print(table)
    for name, ms in result["serve_added_p50_ms"].items():
        out.print(f"Serve's added p50 latency, {name} at {levels[0]} client(s): {ms:+.1f} ms")
    path = write_json(out_path or default_out("bench", "scale"), result)
    png = plot_scale(result, path.with_suffix(".png"))
    console.print(f"report: {path}\nplot: {png}")
