"""The sentiment head slmkit builds for itself (``slmkit setup``, or on first use), and its cache file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slmkit.datasets import pang_lee, stratified_split
from slmkit.skills.embed import Embed
from slmkit.train.heads import LinearHead
from slmkit.train.store import built_heads, builtin_path

SENTIMENT_TEST_FRACTION = 0.2


def sentiment_path(encoder: str) -> Path:
    """The built head's file for ``encoder``."""
    return builtin_path("sentiment", encoder)


def train_sentiment_head(encoder: str, progress: Callable[[int], None] | None = None) -> LinearHead:
    """Fit on the training split of Pang & Lee only; the same seed keeps the test split out."""
    split = stratified_split(pang_lee(), SENTIMENT_TEST_FRACTION)
    embed = Embed(encoder).warm_up()
    x = embed.vectors([e.text for e in split.train], progress=progress)
    head = LinearHead.fit(x, [e.label for e in split.train], c=10.0)
    head.meta.update({"dataset": "pang-lee", "split": "train", "test_fraction": SENTIMENT_TEST_FRACTION})
    return head


def sentiment_head(encoder: str, progress: Callable[[int], None] | None = None) -> LinearHead:
    """The built sentiment head for ``encoder``, training it first if this machine has not yet."""
    (head,) = built_heads([sentiment_path(encoder)], lambda: [train_sentiment_head(encoder, progress)])
    return head
