"""Turning what callers pass into clean text, once, at the edge.

Every skill accepts one item or a batch; this module decides which it got and
refuses input that no model should see, with a message that says why.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from slmkit.errors import InvalidInputError, SlmkitError

T = TypeVar("T")

TextLike = str | bytes


def as_text(item: object, *, max_chars: int, allow_empty: bool = False) -> str:
    """Validate one input: decode bytes as UTF-8, refuse empty or oversized text."""
    if isinstance(item, bytes | bytearray):
        try:
            item = bytes(item).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInputError(
                f"input is not valid UTF-8 (byte {exc.start}: {bytes(item)[exc.start:exc.start + 1]!r}); "
                "decode it first or pass str"
            ) from None
    if not isinstance(item, str):
        raise InvalidInputError(f"expected text (str or UTF-8 bytes), got {type(item).__name__}")
    if "\x00" in item:
        raise InvalidInputError("input contains NUL characters; it looks like binary data, not text")
    if not allow_empty and not item.strip():
        raise InvalidInputError("input text is empty")
    if len(item) > max_chars:
        raise InvalidInputError(
            f"input is {len(item):,} characters; the limit is {max_chars:,} "
            "(raise SLMKIT_MAX_TEXT_CHARS, or split the text)"
        )
    return item


def as_batch(items: object) -> tuple[list[object], bool]:
    """Return ``(batch, was_single)``: a str/bytes is one item, any other iterable a batch."""
    if isinstance(items, str | bytes | bytearray):
        return [items], True
    if isinstance(items, Iterable):
        batch = list(items)
        return batch, False
    return [items], True


def texts(items: object, *, max_chars: int, allow_empty: bool = False) -> tuple[list[str], bool]:
    """Validate one text or a batch of texts; an empty batch is allowed and yields no work."""
    batch, single = as_batch(items)
    return per_item(batch, single, lambda item: as_text(item, max_chars=max_chars, allow_empty=allow_empty)), single


def per_item(batch: Sequence[object], single: bool, fn: Callable[[Any], T]) -> list[T]:
    """``fn`` on each item; in a batch, a deliberate error says which item it came from."""
    out = []
    for position, item in enumerate(batch):
        try:
            out.append(fn(item))
        except SlmkitError as exc:
            if single:
                raise
            raise type(exc)(f"item {position}: {exc}") from None
    return out


def unbatch(results: Sequence[T], single: bool) -> T | list[T]:
    """Give back one result for one input, a list for a batch."""
    return results[0] if single else list(results)
