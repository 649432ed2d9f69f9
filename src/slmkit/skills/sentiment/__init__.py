"""``sentiment``: positive / negative / neutral with probabilities, from heads slmkit trains itself.

The heads are built artefacts: ``slmkit setup`` (or the first call) trains them on the training
parts of the packaged data (Pang & Lee train split, generated negations, SQuAD factual sentences);
the test parts stay untouched for ``slmkit eval sentiment``. A result keeps ``label`` a side
(positive or negative) for callers that need one, and gives the three-way answer in ``outcome``.
VADER stays available as ``Sentiment(method="vader")``, the baseline.

skill     ``Sentiment`` and ``SentimentResult``
head      the recipe that builds the heads on this machine, and their cache files
features  negation scope and the three heads' model
data      the training and test sets, kept apart
"""

from slmkit.skills.sentiment.skill import Method, Outcome, Sentiment, SentimentResult

__all__ = ["Method", "Outcome", "Sentiment", "SentimentResult"]
