"""`slmkit serve` and `slmkit keys ...`: the gateway from the command line."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from slmkit.errors import InvalidInputError

keys_app = typer.Typer(help="API keys for the gateway (stored hashed in the data dir).", no_args_is_help=True)


def _ui():  # noqa: ANN202
    from slmkit import cli  # here, not at import: cli imports this module

    return cli


def _store():  # noqa: ANN202
    from slmkit.config import get_settings
    from slmkit.gateway.store import GatewayStore

    return GatewayStore(get_settings().data_dir / "gateway.sqlite")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_cmd(
    host: Annotated[str | None, typer.Option(help="Bind address (default: gateway.host, loopback).")] = None,
    port: Annotated[int | None, typer.Option(min=0, max=65535, help="Port (default: gateway.port).")] = None,
    warm: Annotated[bool, typer.Option(help="Load the local tiers before accepting requests.")] = True,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="Accept requests without a key even if keys exist "
                                          "(development; refused beyond loopback).")] = False,
) -> None:
    """Start the OpenAI-compatible gateway on the embedded default (local tiers; YAML adds remote ones)."""
    import uvicorn

    from slmkit.config import get_settings
    from slmkit.gateway.app import create_app

    ui = _ui()
    settings = get_settings()
    host = host or settings.gateway.host
    port = settings.gateway.port if port is None else port
    if no_auth:
        settings = settings.model_copy(update={"gateway": settings.gateway.model_copy(update={"auth": "off"})})
    if not _is_loopback(host):
        if settings.gateway.auth == "off":
            raise InvalidInputError(f"refusing to listen on {host} with authentication off: anyone on the network "
                                    "could use it. Drop --no-auth (gateway.auth: off), or bind to 127.0.0.1")
        if _store().active_keys() == 0:
            raise InvalidInputError(f"refusing to listen on {host} without an API key: anyone on the network could "
                                    "use it. Create one with `slmkit keys create NAME`, or bind to 127.0.0.1")
    ui.console.print(f"slmkit gateway on http://{host}:{port}/v1  (OpenAPI: http://{host}:{port}/docs)")
    uvicorn.run(create_app(settings, warm=warm), host=host, port=port, log_level="warning", access_log=False)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute (default: gateway.default_rpm).")]
    = None,
    token_budget: Annotated[int | None, typer.Option(min=1, help="Total tokens this key may use.")] = None,
) -> None:
    """Create a key; the secret is printed once and only its hash is stored."""
    key, secret = _store().create_key(name, rpm, token_budget)
    ui = _ui()
    ui.console.print(f"created {key.id} for {key.name!r}; the secret is shown once:")
    ui.out.print(secret)


@keys_app.command("list")
def keys_list() -> None:
    """Every key with its limits and usage (never the secret)."""
    import time

    ui = _ui()
    table = Table(title="gateway API keys")
    table.add_column("id", min_width=16, no_wrap=True)  # never truncated: it is what `keys revoke` takes
    for col in ("name", "created", "status", "rpm", "token budget", "tokens used"):
        table.add_column(col)
    for k in _store().list_keys():
        table.add_row(k.id, k.name, time.strftime("%Y-%m-%d %H:%M", time.localtime(k.created)),
                      "revoked" if k.revoked else "active", str(k.rpm or "default"),
                      str(k.token_budget or "-"), str(k.tokens_used))
    ui.out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_...), from `keys list`.")]) -> None:
    """Revoke a key: requests with it are refused within 2 seconds."""
    _store().revoke_key(key_id)
    _ui().console.print(f"revoked {key_id}")


def bench_gateway_cmd(
    litellm: Annotated[str | None, typer.Option(help="The LiteLLM proxy executable (from `make peers`).")]
    = ".venv-peers/bin/litellm",
    no_peer: Annotated[bool, typer.Option("--no-peer", help="Measure slmkit only.")] = False,
    requests: Annotated[int, typer.Option(min=50, help="Sequential requests per target for latency.")] = 400,
    seconds: Annotated[float, typer.Option(min=1.0, help="Seconds per concurrency level for throughput.")] = 5.0,
    out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None,
) -> None:
    """Gateway overhead (added latency p50/p95/p99, max sustained req/s) vs the LiteLLM proxy, same upstream."""
    from slmkit.evals.bench_gateway import bench_gateway
    from slmkit.evals.report import default_out, write_json

    ui = _ui()
    peer = None if no_peer else litellm
    if peer and not Path(peer).exists():
        raise InvalidInputError(f"{peer} not found: run `make peers` (or pass --no-peer)")
    with ui.progress_bar("gateway bench (latency, then load, per target)", 6 if peer else 4) as advance:
        result = bench_gateway(peer, requests, seconds, progress=advance)
    table = Table(title=f"pass-through to an instant upstream, {requests} sequential requests, "
                        f"load {seconds:g} s per concurrency level")
    for col in ("target", "p50 ms", "added p50", "added p95", "added p99", "max sustained req/s"):
        table.add_column(col, justify="left" if col == "target" else "right")
    for name, row in result["targets"].items():
        table.add_row(name, f"{row['latency_p50_ms']:.2f}", f"{row['added_p50_ms']:.2f}",
                      f"{row['added_p95_ms']:.2f}", f"{row['added_p99_ms']:.2f}", f"{row['max_sustained_rps']:.0f}")
    ui.out.print(table)
    if "ratio_added_p50" in result:
        ui.out.print(f"slmkit / LiteLLM: added p50 latency {result['ratio_added_p50']:.2f}x, "
                     f"throughput {result['ratio_rps']:.2f}x")
    spec = result["routed_to_specialist_ms"]
    ui.out.print(f"routed request answered by a specialist (sentiment), end to end: p50 {spec['p50']:.1f} ms, "
                 f"p95 {spec['p95']:.1f} ms")
    path = write_json(out_path or default_out("bench", "gateway"), result)
    ui.console.print(f"report: {path}")


def bench_soak_cmd(
    minutes: Annotated[float, typer.Option(min=0.1, help="How long to hold the load.")] = 10.0,
    rps: Annotated[float, typer.Option(min=0.1, help="Requests per second (open loop).")] = 10.0,
    out_path: Annotated[Path | None, typer.Option("--out", help="JSON report path.")] = None,
) -> None:
    """A steady mixed load on a real gateway for minutes: errors, latency, and memory at start and end."""
    from slmkit.evals.report import default_out, write_json
    from slmkit.evals.soak import soak

    ui = _ui()
    with ui.console.status(f"soak: {rps:g} req/s for {minutes:g} min..."):
        result = soak(minutes, rps)
    rss = result["rss_mb"]
    ui.out.print(f"{result['requests']} requests, {result['errors']} errors, {result['logged_requests']} of "
                 f"{result['sent_requests']} sent (warm-up included) in the request log; latency p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
                 f"p99 {result['p99_ms']:.1f} ms")
    ui.out.print(f"server RSS: start {rss[0][1]:.0f} MB, end {rss[-1][1]:.0f} MB, max {max(m for _, m in rss):.0f} MB")
    for sample in result["error_samples"]:
        ui.out.print(f"  error: {sample}")
    path = write_json(out_path or default_out("bench", "soak"), result)
    ui.console.print(f"report: {path}")
