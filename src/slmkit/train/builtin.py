"""Heads slmkit builds for itself from packaged public data (``slmkit setup`` runs these once)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from slmkit.config import get_settings
from slmkit.train.heads import LinearHead
from slmkit.train.store import read_npz, write_npz

SENTIMENT_TEST_FRACTION = 0.2


def builtin_path(kind: str, encoder: str) -> Path:
    return get_settings().cache / "builtin" / f"{kind}-{encoder}.npz"


def train_sentiment_head(encoder: str, progress: Callable[[int], None] | None = None) -> LinearHead:
    """Fit on the training split of Pang & Lee only; the same seed keeps the test split out."""
    from slmkit.evals.datasets import pang_lee, stratified_split
    from slmkit.skills.embed import Embed

    split = stratified_split(pang_lee(), SENTIMENT_TEST_FRACTION)
    embed = Embed(encoder).warm_up()
    x = embed.vectors([e.text for e in split.train], progress=progress)
    head = LinearHead.fit(x, [e.label for e in split.train], c=10.0)
    head.meta.update({"dataset": "pang-lee", "split": "train", "test_fraction": SENTIMENT_TEST_FRACTION})
    return head


def sentiment_head(encoder: str, progress: Callable[[int], None] | None = None) -> LinearHead:
    """The built sentiment head for ``encoder``, training it first if this machine has not yet."""
    path = builtin_path("sentiment", encoder)
    if not path.is_file():
        write_npz(path, train_sentiment_head(encoder, progress))
    return read_npz(path)
