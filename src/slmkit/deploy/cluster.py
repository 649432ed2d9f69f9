"""Starting or joining Ray, deploying the application, reading its status and stopping cleanly."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from slmkit.deploy.app import APP_NAME, build
from slmkit.deploy.loopback import LOOPBACK_ENV
from slmkit.errors import SlmkitError

if TYPE_CHECKING:
    from slmkit.config import Settings


def _ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        from slmkit.errors import InvalidInputError

        raise InvalidInputError("`--ray` needs Ray Serve: pip install 'slmkit[ray]'") from exc
    return ray


@dataclass
class Deployed:
    """Where the application answers, and what was started (a local Ray is ours to stop)."""

    url: str
    dashboard: str | None
    local: bool
    deployments: dict[str, Any] = field(default_factory=dict)


def connect(settings: Settings, address: str | None = None) -> tuple[bool, str | None]:
    """Join ``address`` (or ``ray.address``), else start a local Ray on 127.0.0.1; whether it is local,
    and the dashboard's address if there is one."""
    address = address or settings.ray.address
    if not address:
        # Before Ray is imported (it reads these at import), and inherited by every process it starts.
        os.environ.update(LOOPBACK_ENV)
    ray = _ray()
    if ray.is_initialized():
        return address is None, None
    if address:
        context = ray.init(address=address, namespace="slmkit", log_to_driver=False)
        return False, getattr(context, "dashboard_url", None) or None
    from ray._private import ray_constants

    ray_constants.ENABLE_RAY_CLUSTER = False  # in case Ray was imported before (a test, a notebook)
    context = ray.init(num_cpus=settings.ray.num_cpus, namespace="slmkit", include_dashboard=settings.ray.dashboard,
                       dashboard_host="127.0.0.1", _node_ip_address="127.0.0.1", log_to_driver=False,
                       runtime_env={"worker_process_setup_hook": "slmkit.deploy.loopback.pin_replica_grpc",
                                    "env_vars": dict(LOOPBACK_ENV)})
    return True, (getattr(context, "dashboard_url", None) or None) if settings.ray.dashboard else None


def attach(address: str = "auto") -> Any:
    """Join a running Ray as a driver (for ``slmkit status``); "auto" is the local one, on loopback."""
    if address == "auto":
        os.environ.update(LOOPBACK_ENV)  # before Ray is imported: else it looks for the node on eth0
    ray = _ray()
    if address == "auto":
        from ray._private import ray_constants

        ray_constants.ENABLE_RAY_CLUSTER = False
    try:
        ray.init(address=address, namespace="slmkit", log_to_driver=False, logging_level="error")
    except ConnectionError as exc:
        raise SlmkitError(f"no Ray cluster at {address}: is `slmkit serve --ray` running?") from exc
    return ray


def deploy(settings: Settings, address: str | None = None) -> Deployed:
    """Deploy (or update) the slmkit application; returns once every deployment is healthy."""
    local, dashboard = connect(settings, address)
    from ray import serve

    serve.start(http_options={"host": settings.ray.host, "port": settings.ray.port})
    try:
        serve.run(build(settings), name=APP_NAME, route_prefix="/")
    except RuntimeError as exc:  # Serve says only which deployments failed; their replicas say why
        failed = {n: d["message"] for n, d in status().items() if d["status"] not in ("HEALTHY", "UPDATING")}
        raise SlmkitError("the Ray Serve application did not start: " + ("; ".join(
            f"{name}: {message.strip().splitlines()[-1] if message else 'failed'}" for name, message in failed.items())
            or str(exc))) from exc
    if dashboard and not dashboard.startswith("http"):
        dashboard = f"http://{dashboard}"
    return Deployed(f"http://{settings.ray.host}:{settings.ray.port}", dashboard, local, status())


def status() -> dict[str, Any]:
    """Each deployment's status and replica states: ``{name: {"status": ..., "replicas": {state: n}}}``."""
    from ray import serve

    app = serve.status().applications.get(APP_NAME)
    if app is None:
        return {}
    return {name: {"status": str(d.status.value if hasattr(d.status, "value") else d.status),
                   "replicas": {str(k.value if hasattr(k, "value") else k): v
                                for k, v in (d.replica_states or {}).items()},
                   "message": d.message}
            for name, d in app.deployments.items()}


def shutdown(local: bool = True) -> None:
    """Delete the application; a local Ray is stopped with it (Serve first, so nothing is orphaned)."""
    ray = _ray()
    from ray import serve

    if ray.is_initialized():
        if local:
            serve.shutdown()
            ray.shutdown()
        else:
            serve.delete(APP_NAME)
