"""The guard: PII redaction, moderation and egress rules applied before text leaves the machine."""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "Guard": "slmkit.guard.guard",
    "GuardResult": "slmkit.guard.guard",
    "GuardPolicy": "slmkit.config.guard",
    "Vault": "slmkit.guard.redact",
    "redact": "slmkit.guard.redact",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(name)
