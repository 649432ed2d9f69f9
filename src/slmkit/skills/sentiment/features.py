"""How the sentiment skill reads a sentence: its embedding, and the polarity of what a negation in it
governs, scored apart.

Why: a linear head on one embedding cannot learn that a negation flips polarity. "wasn't terrible"
embeds next to "terrible", and the only lever a linear head has is one fixed "negation" direction,
which cannot push "not terrible" up *and* "not great" down (measured: adding generated negations to
the training data moved the held-out negation set only from 0.33 to 0.41). Scoring the negated
phrase ("terrible") with the polarity head and letting a small second head weigh it against the
sentence's own score carries the encoder's sense of polarity to words never seen negated (0.80 on
the same set).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slmkit.skills.embed import Embed
    from slmkit.train.heads import LinearHead

# Negation scope, the classic sentiment rule (Das & Chen 2001; Pang et al. 2002): the words after a
# negator, up to the next punctuation or contrast word.
NEGATORS = frozenset({"not", "no", "never", "nothing", "nobody", "none", "neither", "nor", "hardly", "barely",
                      "without", "cannot", "nowhere"})
_STOPS = frozenset({".", ",", "!", "?", ";", ":", "but", "however", "although", "though", "yet", "except"})
_WORD_OR_STOP = re.compile(r"[a-z0-9]+(?:'[a-z]+)?|n't\b|[.,!?;:]")


def words(text: str) -> list[str]:
    """Lower-cased words (keeping "n't" forms whole) and clause punctuation."""
    return _WORD_OR_STOP.findall(text.lower().replace("\u2019", "'"))


def negation_parts(text: str) -> tuple[str, str]:
    """(the words each negation governs, up to its clause's end; the words outside any negation).
    The first is "" when the text has no negation."""
    spans: list[list[str]] = []
    rest: list[str] = []
    current: list[str] | None = None
    for w in words(text):
        if w in _STOPS:
            current = None
            rest.append(w)
            continue
        if w in NEGATORS or w.endswith("n't"):
            current = []
            spans.append(current)
            continue
        (rest if current is None else current).append(w)
    return " ; ".join(" ".join(span) for span in spans if span), " ".join(rest)


def negation_scope(text: str) -> str:
    """The words each negation governs (up to the clause's end), joined; "" when there is none."""
    return negation_parts(text)[0]


def scope_share(text: str) -> float:
    """Share of the sentence's words that a negation governs: the larger, the more the negated
    phrase is what the sentence says ("the app isn't slow" vs one clause of a long review)."""
    scope, _ = negation_parts(text)
    n = sum(1 for w in words(text) if w not in ".,!?;:")
    return min(1.0, sum(1 for w in scope.split() if w != ";") / max(1, n))


@dataclass
class SentimentModel:
    """The three heads of the built sentiment skill.

    polarity  embedding -> negative/positive (Pang & Lee train split)
    negation  [sentence margin, negated phrase's margin x its share, x the rest, has-negation] ->
              negative/positive: how much a negation flips the sentence, learned from generated
              negations and out-of-fold margins of Pang & Lee (whose negations mostly do not flip it)
    neutral   embedding -> neutral/polar (factual sentences vs the polar training sentences)
    """

    polarity: LinearHead
    negation: LinearHead
    neutral: LinearHead

    def probabilities(self, embed: Embed, texts: Sequence[str],
                      progress: Callable[[int], None] | None = None) -> Any:
        """(n, 3): P(negative), P(neutral), P(positive)."""
        import numpy as np

        x = embed.vectors(list(texts), progress=progress)
        p_neutral = self.neutral.predict_proba(x)[:, self.neutral.labels.index("neutral")]
        stacked = self.negation.predict_proba(negation_inputs(self.polarity, embed, texts, x))
        p_positive = stacked[:, self.negation.labels.index("positive")]
        return np.stack([(1 - p_neutral) * (1 - p_positive), p_neutral, (1 - p_neutral) * p_positive], axis=1)


def margin(head: LinearHead, x: Any) -> Any:
    """Positive minus negative logit of a polarity head."""
    logits = head.logits(x)
    return logits[:, head.labels.index("positive")] - logits[:, head.labels.index("negative")]


def negation_inputs(polarity: LinearHead, embed: Embed, texts: Sequence[str], x: Any,
                    sentence_margin: Any = None) -> Any:
    """The negation head's four inputs per text (``sentence_margin``: out-of-fold margins at training)."""
    import numpy as np

    scopes = [negation_scope(t) for t in texts]
    rows = [i for i, s in enumerate(scopes) if s]
    scope_margin = np.zeros(len(texts), dtype=np.float32)
    if rows:
        scope_margin[rows] = margin(polarity, embed.vectors([scopes[i] for i in rows]))
    negated = np.zeros(len(texts), dtype=np.float32)
    negated[rows] = 1.0
    share = np.asarray([scope_share(t) if s else 0.0 for t, s in zip(texts, scopes, strict=True)], dtype=np.float32)
    m = margin(polarity, x) if sentence_margin is None else sentence_margin
    return np.stack([m, scope_margin * share, scope_margin * (1 - share) * negated, negated], axis=1).astype(np.float32)
