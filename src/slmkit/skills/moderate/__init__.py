"""``moderate``: a toxicity score with categories, and prompt-injection heuristics.

No neural toxicity model ships in a package, so the score comes from a linear head
on sentence embeddings that slmkit trains itself (``slmkit setup``, or on first use)
on the train split of packaged ToxiGen, RealToxicityPrompts and benign text, and on
half of slmkit's own ordinary sentences (support tickets, small talk) and of their
abusive counterpart; see ``slmkit.datasets.moderation`` for the data and ``slmkit eval
moderate`` for how it fares against the profanity baseline (alt-profanity-check,
TF-IDF + linear SVM) and on the held-out halves of slmkit's own sentences.

``score`` is a logistic combination of the head and the baseline, fitted on
out-of-fold scores of the train rows: the baseline is sharp on swear words, the head
on insults and hate without them. Its bias is shifted so that the default threshold,
0.5, flags at most 2 % of everyday benign training text out of fold
(``heads.MODERATION_TARGET_FPR``): the training mix is half toxic, real
traffic is not, and a false flag with ``moderation: block`` refuses a real user. So
``score`` reads as "probability toxic, under a prior where toxic text is rare", and
``flagged`` means ``score >= threshold`` (toxicity only); an injection finding is
reported beside it in ``injection``.

Categories come from a second head over the seven RealToxicityPrompts subsets,
trained on toxic rows only: it answers "if this is toxic, what kind", so its
probabilities are multiplied by ``score`` and sum to it. Those subsets group prompts
by the kind of continuation they provoked, which is a loose label: treat the
categories as a hint, not a verdict. A category is reported true (in
``flagged_categories``) only when the text is flagged and the category's own score
reaches its own threshold: the F1-best cut-off on out-of-fold scores, never below
0.25, recorded in the category head (``Moderate.category_threshold``).

skill      ``Moderate`` and ``ModerationResult``
heads      the recipe that builds both heads on this machine, and their cache files
profanity  the profanity baseline and the head + baseline combination, shared by the two above
"""

from slmkit.skills.moderate.profanity import combine, profanity_probability
from slmkit.skills.moderate.skill import Moderate, ModerationResult

__all__ = ["Moderate", "ModerationResult", "combine", "profanity_probability"]
