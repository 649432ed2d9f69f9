"""slmkit: small language models that do the work, and a large one only when it must.

Importing slmkit loads no model and no heavy library; see ``slmkit.SLM``.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"
__all__ = ["SLM", "Settings", "get_settings", "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy so that `import slmkit` stays well under half a second.
    if name == "SLM":
        from slmkit.api import SLM

        return SLM
    if name in {"Settings", "get_settings"}:
        from slmkit import config

        return getattr(config, name)
    raise AttributeError(f"module 'slmkit' has no attribute {name!r}")
