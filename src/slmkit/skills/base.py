"""The one contract every specialist keeps.

A skill is a small object: ``warm_up()`` loads its model (explicitly, once), and
calling it with one item returns one typed result, with a batch a list of them.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from slmkit.config import get_settings
from slmkit.text import texts


@runtime_checkable
class Skill(Protocol):
    name: str

    def warm_up(self) -> Any: ...

    def __call__(self, items: Any, /) -> Any: ...


def clean(items: object, allow_empty: bool = False) -> tuple[list[str], bool]:
    """Validate skill input with the configured size limit."""
    return texts(items, max_chars=get_settings().max_text_chars, allow_empty=allow_empty)
