"""slmkit on Ray Serve: ``slmkit serve --ray`` or, from Python::

    from slmkit.deploy import deploy, shutdown
    deployed = deploy()            # a local Ray on 127.0.0.1, or deploy(address="ray://head:10001")
    print(deployed.url)            # the same OpenAI-compatible API as `slmkit serve`
    shutdown()

Nothing here imports Ray until one of these is called (``pip install 'slmkit[ray]'``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slmkit.config import Settings
    from slmkit.deploy.cluster import Deployed


def deploy(settings: Settings | None = None, address: str | None = None) -> Deployed:
    """The gateway as a Ray Serve application (see :mod:`slmkit.deploy.app`); returns once healthy."""
    from slmkit.config import get_settings
    from slmkit.deploy import cluster

    return cluster.deploy(settings or get_settings(), address)


def status() -> dict[str, Any]:
    from slmkit.deploy import cluster

    return cluster.status()


def shutdown(local: bool = True) -> None:
    from slmkit.deploy import cluster

    cluster.shutdown(local)
