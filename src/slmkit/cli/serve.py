"""`slmkit serve` and `slmkit keys create | list | revoke`: the gateway from the command line.

Commands import the gateway in their body: FastAPI, uvicorn and the settings (pydantic) take most of a
second to import, and `slmkit --help` should not pay for them.
"""

from __future__ import annotations

import ipaddress
import signal
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from slmkit.cli._io import console, out
from slmkit.errors import InvalidInputError

if TYPE_CHECKING:
    from slmkit.config import Settings
    from slmkit.gateway.store import GatewayStore

keys_app = typer.Typer(help="API keys for the gateway (stored hashed in the data dir).", no_args_is_help=True)


def _store() -> GatewayStore:
    from slmkit.config import get_settings
    from slmkit.gateway.store import GatewayStore

    settings = get_settings()
    return GatewayStore(settings.data_dir / "gateway.sqlite", url=settings.store.url,
                        pool_size=settings.store.pool_size, connect_timeout=settings.store.connect_timeout)


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
    ray: Annotated[bool, typer.Option("--ray", help="Serve on Ray Serve: a deployment per crew, tier, RAG and "
                                      "planner, replicas from the `ray:` settings; needs the ray extra).")]
    = False,
    address: Annotated[str | None, typer.Option(help="With --ray: join this Ray cluster (default: ray.address, "
                                                "else a local Ray on 127.0.0.1).")] = None,
) -> None:
    """Start the OpenAI-compatible gateway on the embedded default (local tiers; YAML adds remote ones)."""
    import uvicorn

    from slmkit.config import get_settings
    from slmkit.gateway.app import create_app

    settings = get_settings()
    if address and not ray:
        raise InvalidInputError("--address joins a Ray cluster: use it with --ray")
    if ray:
        host, port = host or settings.ray.host, settings.ray.port if port is None else port
        settings = settings.model_copy(update={"ray": settings.ray.model_copy(update={"host": host, "port": port})})
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
    if ray:
        _serve_on_ray(settings, address)
        return
    console.print(f"slmkit gateway on http://{host}:{port}/v1  (OpenAPI: http://{host}:{port}/docs)")
    uvicorn.run(create_app(settings, warm=warm), host=host, port=port, log_level="warning", access_log=False)


def _serve_on_ray(settings: Settings, address: str | None) -> None:
    """Deploy on Ray Serve, say where everything is, and stay until Ctrl-C, then stop cleanly."""
    from slmkit.deploy import cluster

    with console.status("starting Ray and the deployments (a local Ray takes ~10-30 s, each model its load)..."):
        try:
            deployed = cluster.deploy(settings, address)
        except BaseException:
            cluster.shutdown(local=not (address or settings.ray.address))
            raise
    console.print(f"slmkit gateway on Ray Serve: {deployed.url}/v1  (OpenAPI: {deployed.url}/docs)")
    console.print(f"Ray dashboard: {deployed.dashboard}" if deployed.dashboard else
                  "Ray dashboard: off (ray.dashboard: true starts it on 127.0.0.1)")
    for name, info in deployed.deployments.items():
        console.print(f"  {name:<14} {info['status']:<10} {info['replicas']}")
    console.print("`slmkit status` shows the deployments; Ctrl-C stops" +
                  (" Ray." if deployed.local else " and deletes the application (the cluster stays)."))
    def stop(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (a service manager, `kill`) stops as cleanly as Ctrl-C

    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:  # started in the background by a shell
        signal.signal(signal.SIGINT, stop)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        console.print("stopping..." if deployed.local else "deleting the application...")
        cluster.shutdown(deployed.local)


def status_cmd(
    address: Annotated[str, typer.Option(help="The Ray cluster to ask (default: the local one).")] = "auto",
) -> None:
    """Deployments, replicas and health of `slmkit serve --ray`."""
    from slmkit.deploy import cluster

    ray_module = cluster.attach(address)
    try:
        rows = cluster.status()
    finally:
        ray_module.shutdown()
    if not rows:
        raise InvalidInputError("Ray is running but the slmkit application is not deployed")
    table = Table(title="slmkit on Ray Serve")
    for col in ("deployment", "status", "replicas", "message"):
        table.add_column(col)
    for name, info in rows.items():
        table.add_row(name, info["status"], ", ".join(f"{k.lower()} {v}" for k, v in info["replicas"].items()),
                      info["message"] or "")
    out.print(table)


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what the key is for.")],
    rpm: Annotated[int | None, typer.Option(min=1, help="Requests per minute (default: gateway.default_rpm).")]
    = None,
    token_budget: Annotated[int | None, typer.Option(min=1, help="Total tokens this key may use.")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="May also open the dashboard at /ui.")] = False,
) -> None:
    """Create a key; the secret is printed once and only its hash is stored."""
    store = _store()
    key, secret = store.create_key(name, rpm, token_budget)
    if admin:
        store.grant_admin(key.id)
    console.print(f"created {'admin ' if admin else ''}{key.id} for {key.name!r}; the secret is shown once:")
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
