"""Arguments that need no generator: a crew tool that reads one text, in a request that quotes one.

Most asks of a multi-step request work on the passage the request quotes ("is this review positive:
'...'"). Copying that passage token by token is most of what a 0.5B planner writes, and most of its
latency; a rule copies it exactly and at once. The rule fills only what is unambiguous and leaves
everything else to the generator:

- the tool's one required argument is ``text`` (the crew's convention for "the text to work on"),
  and the ask does not look like it sets an optional one (a number for ``summarize``'s ``max_words``);
- the request quotes exactly one passage;
- no earlier step may write text (redact, summarize, generate...): a later step may then mean that
  output (summarise the *redacted* note), which is the generator's call.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from slmkit.plan.tools import Tool

RuleStep = tuple[str, dict[str, Any]]  # a step the rule wrote: (tool, args)

# A quoted passage ('...', "...", ‘...’ or “...”; an apostrophe inside a word does not end it): what a tool
# works on, never an ask.
QUOTED = re.compile(r"""(?<![\w])(?:(['"])(?:(?!\1).|\1(?=\w))+\1|‘[^’]+’|“[^”]+”)(?![\w])""",
                    re.DOTALL)
_NUMBER = re.compile(r"\d|\b(?:one|two|three|four|five|six|seven|eight|nine|ten|twenty|thirty|fifty|hundred)\b",
                     re.IGNORECASE)


def passages(request: str) -> list[str]:
    """The passages the request quotes, without their quotes."""
    return [m.group(0)[1:-1].strip() for m in QUOTED.finditer(request)]


def reads_one_text(tool: Tool) -> bool:
    """The tool's only required argument is ``text``, a string."""
    schema = tool.input_schema()
    required = schema.get("required", [])
    return required == ["text"] and schema.get("properties", {}).get("text", {}).get("type") == "string"


def writes_text(tool: Tool) -> bool:
    """The tool's output has a ``text`` field (or is text): a later step may mean to read it."""
    out = tool.output_schema()
    return out.get("type") == "string" or "text" in out.get("properties", {})


def may_set_option(tool: Tool, ask: str) -> bool:
    """The ask could be setting one of the tool's optional arguments: it carries a number and the tool
    takes one, or it names one of an option's allowed values (``redact``'s "hash")."""
    schema = tool.input_schema()
    required = set(schema.get("required", []))
    for name, prop in schema.get("properties", {}).items():
        if name in required:
            continue
        if prop.get("type") in ("integer", "number") and _NUMBER.search(ask):
            return True
        if any(re.search(rf"\b{re.escape(str(v))}", ask, re.IGNORECASE) for v in prop.get("enum", [])):
            return True
    return False


def fill(tool: Tool, ask: str, passage: str | None) -> dict[str, Any] | None:
    """The step's arguments by rule, or None when the generator must write them."""
    if passage is None or not reads_one_text(tool) or may_set_option(tool, ask):
        return None
    return {"text": passage}
