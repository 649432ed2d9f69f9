"""Quality evaluations (`slmkit eval`): each skill or component scored on held-out public data.

metrics     accuracy, macro-F1, calibration error, confusions
tasks       classify (SNIPS) and sentiment (Pang & Lee)
spans       entities (CoNLL-2003) and PII (synthetic Presidio data)
moderation  the toxicity head against the profanity baseline; injection checks
extraction  structured extraction on synthetic notes
plan        tool choice of each planner tier
rag         retrieval, refusal and answers on SQuAD dev

The data sets come from ``slmkit.datasets``. Called from the CLI only; runtime code never imports this package.
"""
