"""The profanity baseline and its combination with the head: the recipe fits it, the skill applies it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def profanity_probability(texts: Sequence[str]) -> np.ndarray:
    """alt-profanity-check's probability per text (its model loads on first call, ~1 s)."""
    if not texts:
        return np.zeros(0)
    # Importing it unpickles its model (and scikit-learn): only the first call pays for that.
    from profanity_check import predict_prob

    return np.asarray(predict_prob(list(texts)), dtype=np.float64)


def combine(head: np.ndarray, profanity: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    """The logistic combination recorded in the head's meta, on the two scores' logits."""
    def logit(p: np.ndarray) -> np.ndarray:
        p = np.clip(p, 1e-6, 1 - 1e-6)
        return np.log(p / (1 - p))

    z = weights["head"] * logit(head) + weights["profanity"] * logit(profanity) + weights["bias"]
    return 1.0 / (1.0 + np.exp(-z))
