"""Keeps a local Ray on 127.0.0.1.

Ray 2.60 has settings for nearly every socket (below); one it lacks: each Serve replica opens an
inter-deployment gRPC port on ``[::]:0`` (all interfaces), hard-coded in ``ray.serve._private.replica``.
On a local Ray, every worker runs :func:`pin_replica_grpc` first (``worker_process_setup_hook``) and that
port binds to 127.0.0.1 too. A cluster joined with ``--address`` keeps Ray's defaults: there, replicas
on other nodes must reach it.
"""

from __future__ import annotations

import os

# What the local Ray is started with (``cluster.start_local``); each is why no socket leaves loopback:
LOOPBACK_ENV = {
    # get_node_ip_address() answers 127.0.0.1 instead of the machine's network address, so the GCS,
    # raylet, object manager and workers bind and advertise loopback.
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    # No usage report sent to Ray's servers.
    "RAY_USAGE_STATS_ENABLED": "0",
}


def pin_replica_grpc() -> None:
    """Rebind the replicas' inter-deployment gRPC server from ``[::]`` to 127.0.0.1 (see the module doc)."""
    try:
        from ray.serve._private import replica
    except ImportError:  # pragma: no cover - not a Serve worker
        return
    original = replica.add_port_to_grpc_server
    if getattr(original, "_slmkit_loopback", False):
        return

    def loopback_only(server, address: str):  # noqa: ANN001, ANN202 - Ray's own signature
        return original(server, address.replace("[::]:", "127.0.0.1:", 1))

    loopback_only._slmkit_loopback = True  # type: ignore[attr-defined]
    replica.add_port_to_grpc_server = loopback_only
    os.environ.update(LOOPBACK_ENV)
