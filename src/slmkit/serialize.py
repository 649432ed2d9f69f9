"""Results as plain JSON values: the one shape the CLI prints and the gateway returns."""

from __future__ import annotations

import dataclasses
from typing import Any


def to_json(value: Any) -> Any:
    """Dataclasses, numpy arrays, dicts, lists and floats -> JSON-able values; floats rounded to 6 places."""
    import numpy as np  # on first use: importing the CLI or the gateway schemas should not pay for numpy

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, np.ndarray):
        return [round(float(v), 6) for v in value.tolist()]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, float):
        return round(value, 6)
    return value
