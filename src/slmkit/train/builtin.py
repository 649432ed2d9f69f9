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


MODERATION_VALIDATION_FRACTION = 0.2


def _toxic_probability(head: LinearHead, x, texts: list[str]):
    return head.predict_proba(x, texts)[:, head.labels.index("toxic")]


def _logit(p):
    import numpy as np

    p = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def _pick_lexical(fit: Callable[[bool], LinearHead], score: Callable[[LinearHead], float]) -> tuple[bool, dict]:
    """Embedding alone or with TF-IDF words: whichever scores better on the validation rows (ties: no words)."""
    scores = {lexical: score(fit(lexical)) for lexical in (False, True)}
    chosen = scores[True] > scores[False]
    return chosen, {"embedding": scores[False], "embedding+tfidf": scores[True]}


def train_moderation_heads(encoder: str, progress: Callable[[int], None] | None = None
                           ) -> tuple[LinearHead, LinearHead]:
    """(toxicity head, category head), fitted on the moderation train split only.

    A validation split carved from train decides whether the TF-IDF block helps and
    fits the logistic combination with the profanity baseline on held-out head scores
    (the head's scores on its own training rows would be overconfident).
    """
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    from slmkit.evals.moderation import (
        MODERATION_TEST_FRACTION, fingerprint, label_counts, moderation_split, split_examples,
    )
    from slmkit.skills.embed import Embed
    from slmkit.skills.moderate import profanity_probability

    train = moderation_split().train
    texts = [e.text for e in train]
    x = Embed(encoder).warm_up().vectors(texts, progress=progress)
    toxic = ["toxic" if e.toxic else "benign" for e in train]
    row = {text: i for i, text in enumerate(texts)}
    inner = split_examples(train, MODERATION_VALIDATION_FRACTION)
    fit_rows = np.asarray([row[e.text] for e in inner.train])
    val_rows = np.asarray([row[e.text] for e in inner.test])

    def subset(rows: np.ndarray, labels: list[str]) -> tuple[np.ndarray, list[str], list[str]]:
        return x[rows], [labels[i] for i in rows], [texts[i] for i in rows]

    xf, yf, tf = subset(fit_rows, toxic)
    xv, yv, tv = subset(val_rows, toxic)
    gold = np.asarray([label == "toxic" for label in yv])

    def fit_toxic(lexical: bool) -> LinearHead:
        return LinearHead.fit(xf, yf, c=10.0, texts=tf if lexical else None)

    lexical, validation = _pick_lexical(fit_toxic, lambda h: float(roc_auc_score(gold, _toxic_probability(h, xv, tv))))
    held_head = _toxic_probability(fit_toxic(lexical), xv, tv)
    held_profanity = profanity_probability(tv)
    combo = LogisticRegression(C=1.0).fit(np.column_stack([_logit(held_head), _logit(held_profanity)]), gold)
    (w_head, w_profanity), bias = combo.coef_[0], combo.intercept_[0]
    validation["profanity"] = float(roc_auc_score(gold, held_profanity))
    validation["max(head, profanity)"] = float(roc_auc_score(gold, np.maximum(held_head, held_profanity)))
    # In-sample on the validation rows (3 parameters), so a little optimistic.
    validation["logistic(head, profanity)"] = float(roc_auc_score(gold, combo.decision_function(
        np.column_stack([_logit(held_head), _logit(held_profanity)]))))

    head = LinearHead.fit(x, toxic, c=10.0, texts=texts if lexical else None)
    head.meta.update({
        "dataset": "toxigen+rtp+benign(pang-lee,snips,squad)", "split": "train",
        "test_fraction": MODERATION_TEST_FRACTION,
        "train_fingerprint": fingerprint(texts), "strata": label_counts(train),
        "validation_fraction": MODERATION_VALIDATION_FRACTION, "validation_roc_auc": validation,
        "combination": {"head": float(w_head), "profanity": float(w_profanity), "bias": float(bias)},
    })

    categorised = [i for i, e in enumerate(train) if e.category]
    category = [train[i].category or "" for i in range(len(train))]
    cf = np.asarray([i for i in fit_rows if train[i].category])
    cv = np.asarray([i for i in val_rows if train[i].category])
    xcf, ycf, tcf = subset(cf, category)
    xcv, ycv, tcv = subset(cv, category)

    def fit_category(lexical: bool) -> LinearHead:
        return LinearHead.fit(xcf, ycf, c=1.0, texts=tcf if lexical else None, calibrate=False)

    def accuracy(h: LinearHead) -> float:
        predicted = h.predict_proba(xcv, tcv).argmax(axis=1)
        return float(np.mean([h.labels[p] == g for p, g in zip(predicted, ycv, strict=True)]))

    category_lexical, category_validation = _pick_lexical(fit_category, accuracy)
    rows = np.asarray(categorised)
    categories = LinearHead.fit(x[rows], [category[i] for i in rows], c=1.0,
                                texts=[texts[i] for i in rows] if category_lexical else None)
    categories.meta.update({
        "dataset": "rtp", "split": "train", "train_fingerprint": fingerprint([texts[i] for i in rows]),
        "validation_accuracy": category_validation,
    })
    return head, categories


def moderation_heads(encoder: str, progress: Callable[[int], None] | None = None) -> tuple[LinearHead, LinearHead]:
    """The built (toxicity, category) heads for ``encoder``, training both first if either is missing."""
    paths = builtin_path("moderation", encoder), builtin_path("moderation-categories", encoder)
    if not all(path.is_file() for path in paths):
        for path, head in zip(paths, train_moderation_heads(encoder, progress), strict=True):
            write_npz(path, head)
    toxicity, categories = (read_npz(path) for path in paths)
    return toxicity, categories


def moderation_head(encoder: str, progress: Callable[[int], None] | None = None) -> LinearHead:
    """The built toxicity head (labels ``benign``/``toxic``); its meta holds the profanity combination."""
    return moderation_heads(encoder, progress)[0]
