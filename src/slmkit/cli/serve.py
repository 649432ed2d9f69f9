"""`slmkit serve` and `slmkit keys create | list | revoke`: the gateway from the command line.

Commands import the gateway in their body: FastAPI, uvicorn and the settings (pydantic) take most of a
second to import, and `slmkit --help` should not pay for them.
"""

from __future__ import annotations

import ipaddress
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from slmkit.cli._io import console, out
from slmkit.errors import InvalidInputError

if TYPE_CHECKING:
    from slmkit.gateway.store import GatewayStore

keys_app = typer.Typer(help="API keys for the gateway (stored hashed in the data dir).", no_args_is_help=True)


def _store() -> GatewayStore:
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
    console.print(f"slmkit gateway on http://{host}:{port}/v1  (OpenAPI: http://{host}:{port}/docs)")
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
    console.print(f"created {key.id} for {key.name!r}; the secret is shown once:")
    out.print(secret)


@keys_app.command("list")
def keys_list() -> None:
    """Every key with its limits and usage (never the secret)."""
    table = Table(title="gateway API keys")
    table.add_column("id", min_width=16, no_wrap=True)  # never truncated: it is what `keys revoke` takes
    for col in ("name", "created", "status", "rpm", "token budget", "tokens used"):
        table.add_column(col)
    for k in _store().list_keys():
        table.add_row(k.id, k.name, time.strftime("%Y-%m-%d %H:%M", time.localtime(k.created)),
                      "revoked" if k.revoked else "active", str(k.rpm or "default"),
                      str(k.token_budget or "-"), str(k.tokens_used))
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (key_...), from `keys list`.")]) -> None:
    """Revoke a key: requests with it are refused within 2 seconds."""
    _store().revoke_key(key_id)
    console.print(f"revoked {key_id}")
