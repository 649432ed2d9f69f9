"""The operator's dashboard at ``/ui``: Overview, Requests, Models, Routes and tasks, Evaluations and
benchmarks, Keys. Server-rendered (Jinja2) with htmx and uPlot vendored under ``static/`` (nothing
from a CDN); mounted by :func:`slmkit.gateway.app.create_app` in the gateway's own process and port."""

from slmkit.gateway.ui.routes import dashboard

__all__ = ["dashboard"]
