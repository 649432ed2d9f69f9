"""The root `slmkit` command: every command and group, in the order `slmkit --help` lists them.

Each command lives with its kind in a sibling module; this one only assembles them, so it is the whole
command tree on one page.
"""

from __future__ import annotations

import sys

import typer

from slmkit.cli import skills
from slmkit.cli._io import print_error, print_interrupted
from slmkit.cli.bench import bench_app
from slmkit.cli.demo import demo
from slmkit.cli.distill import distill_app
from slmkit.cli.eval import eval_app
from slmkit.cli.models import models_app, setup
from slmkit.cli.plan import plan_cmd, workflow_app
from slmkit.cli.rag import ask_cmd, ingest_cmd, rag_app
from slmkit.cli.route import route_app
from slmkit.cli.serve import keys_app, serve_cmd, status_cmd
from slmkit.cli.train import train_app
from slmkit.errors import SlmkitError

app = typer.Typer(help="slmkit: small local models for narrow jobs.", no_args_is_help=True,
                  pretty_exceptions_enable=False, add_completion=False)

# Typer lists commands in the order they are registered, then the groups.
app.command("serve")(serve_cmd)
app.command("status")(status_cmd)
app.command("ingest")(ingest_cmd)
app.command("ask")(ask_cmd)
app.command("plan")(plan_cmd)
app.command("setup")(setup)
app.command("demo")(demo)
app.command("embed")(skills.embed)
app.command("classify")(skills.classify)
app.command("sentiment")(skills.sentiment)
app.command("langid")(skills.langid)
app.command("rerank")(skills.rerank)
app.command("generate")(skills.generate)
app.command("entities")(skills.entities)
app.command("pii")(skills.pii)
app.command("moderate")(skills.moderate)
app.command("extract")(skills.extract)
app.command("summarize")(skills.summarize)
app.command("guard")(skills.guard)

app.add_typer(models_app, name="models")
app.add_typer(eval_app, name="eval")
app.add_typer(bench_app, name="bench")
app.add_typer(train_app, name="train")
app.add_typer(route_app, name="route")
app.add_typer(distill_app, name="distill")
app.add_typer(keys_app, name="keys")
app.add_typer(workflow_app, name="workflow")
app.add_typer(rag_app, name="rag")


def main() -> None:
    """The console script: deliberate errors as one line and their exit code, Ctrl-C as 130."""
    try:
        app()
    except SlmkitError as exc:
        print_error(exc)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        print_interrupted()
        sys.exit(130)
