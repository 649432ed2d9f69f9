"""Distillation: find the well-defined tasks in what the teacher (large tier) is asked, train small
students on its answers, and hand a task to its student once it agrees (shadow -> promote -> demote).

Importing this package loads no model: the names below resolve on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from slmkit.lazy import lazy_exports

if TYPE_CHECKING:
    from slmkit.distill.distiller import Discovery, Distiller, StudentAnswer, TaskStatus, TrainReport
    from slmkit.distill.registry import Event
    from slmkit.distill.settings import DistillSettings

_EXPORTS = {
    "Distiller": "slmkit.distill.distiller",
    "StudentAnswer": "slmkit.distill.distiller",
    "Discovery": "slmkit.distill.distiller",
    "TaskStatus": "slmkit.distill.distiller",
    "TrainReport": "slmkit.distill.distiller",
    "Event": "slmkit.distill.registry",
    "DistillSettings": "slmkit.distill.settings",
}

__all__ = list(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS)
