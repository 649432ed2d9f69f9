"""`slmkit serve` and `slmkit keys ...`: the gateway from the command line."""

from __future__ import annotations

import ipaddress
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
) -> None:
    """Start the OpenAI-compatible gateway on the embedded default (local tiers; YAML adds remote ones)."""
    import uvicorn

    from slmkit.config import get_settings
    from slmkit.gateway.app import create_app

    ui = _ui()
    settings = get_settings()
    host = host or settings.gateway.host
    port = settings.gateway.port if port is None else port
    if not _is_loopback(host) and _store().active_keys() == 0:
        raise InvalidInputError(f"refusing to listen on {host} without an API key: anyone on the network could use "
                                "it. Create one with `slmkit keys create NAME`, or bind to 127.0.0.1")
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
    for col in ("id", "name", "created", "status", "rpm", "token budget", "tokens used"):
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
