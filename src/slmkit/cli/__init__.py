"""The `slmkit` command: every command is a thin skin over the library (``slmkit.SLM`` and friends).

app       the root command, assembling the groups below
_io       consoles, stdin items, JSON lines, progress bars, errors: what every command module shares
skills    embed, classify, sentiment, langid, rerank, generate, entities, pii, moderate, extract, summarize, guard
models    setup; models list | verify | convert
train     train classify | list
eval      eval classify | sentiment | entities | pii | moderate | extract | rag | plan
bench     bench encoders | specialists | route | semantic-routes | gateway | soak | rag
route     route ask | match | fit-routes | calibrate
rag       ingest, ask
plan      plan; workflow list | show | run
serve     serve; keys create | list | revoke
demo      demo

Nothing else in slmkit imports this package: it sits on top of every other layer.
"""

from slmkit.cli.app import app, main

__all__ = ["app", "main"]
