"""The guard: PII redaction, moderation and egress rules applied before text leaves the machine."""

from __future__ import annotations

from slmkit.lazy import lazy_exports


_EXPORTS = {
    "Guard": "slmkit.guard.guard",
    "GuardResult": "slmkit.guard.guard",
    "GuardPolicy": "slmkit.config.guard",
    "Vault": "slmkit.guard.redact",
    "redact": "slmkit.guard.redact",
}

__all__ = list(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
