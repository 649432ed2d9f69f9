"""``sentiment``: positive/negative with a probability, from a head trained on Pang & Lee polarity.

The head is a built artefact: ``slmkit setup`` trains it on the training split of
the packaged Pang & Lee data (the test split stays untouched for ``slmkit eval``).
VADER stays available as ``Sentiment(method="vader")``, the baseline.

skill  ``Sentiment`` and ``SentimentResult``
head   the recipe that builds the head on this machine, and its cache file
"""

from slmkit.skills.sentiment.skill import Method, Sentiment, SentimentResult

__all__ = ["Method", "Sentiment", "SentimentResult"]
