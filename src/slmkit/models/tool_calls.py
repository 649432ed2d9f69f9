"""Tool calling on a local model: the tools in the prompt, a grammar that makes a call well-formed,
and a parser that turns the generated text into OpenAI ``tool_calls`` as it is generated.

A call is the JSON object ``{"name": <tool>, "arguments": {...}}``, constrained by a grammar built
from the tools' own JSON schemas, so the arguments always parse and match the declared parameters.
With ``tool_choice`` "auto" the grammar is "a call, or plain text that does not start with {":
the first character the model writes decides which.

One liberty with "auto", for small models only (``for_local``): a tool whose result is already in the
conversation is not offered again. Given a result, the 0.5B models call the same tool again rather
than answer, so an agent loop would never end; a client that wants the repeat names the tool.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from slmkit.errors import InvalidInputError

Message = dict[str, Any]  # an OpenAI chat message: role, content, and on tool turns tool_calls / tool_call_id


@dataclass(frozen=True)
class Tool:
    name: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object"})  # JSON schema of the arguments
    strict: bool | None = None  # passed on to remote tiers; local calls are always grammar-constrained


@dataclass(frozen=True)
class ToolUse:
    """The tools a request offers and how it wants them used (OpenAI ``tools`` + ``tool_choice``)."""

    tools: tuple[Tool, ...]
    choice: Literal["auto", "none", "required"] = "auto"
    force: str | None = None  # the one tool that must be called (a named tool_choice)
    spent: frozenset[str] = frozenset()  # with "auto": tools not offered again (see the module's note)

    @property
    def offered(self) -> tuple[Tool, ...]:
        if self.choice == "none":
            return ()
        if self.force is not None:
            return tuple(t for t in self.tools if t.name == self.force)
        return tuple(t for t in self.tools if self.choice == "required" or t.name not in self.spent)

    def for_local(self, messages: list[Message]) -> ToolUse:
        """This use as a small local model gets it: with "auto", tools already answered are not offered."""
        if self.choice != "auto":
            return self
        calls = {str(c.get("id")): str((c.get("function") or {}).get("name"))
                 for m in messages for c in m.get("tool_calls") or []}
        answered = frozenset(calls[str(m.get("tool_call_id"))] for m in messages
                             if m.get("role") == "tool" and str(m.get("tool_call_id")) in calls)
        return replace(self, spent=answered)

    @property
    def must_call(self) -> bool:
        return self.force is not None or self.choice == "required"


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as OpenAI clients expect it


@dataclass(frozen=True)
class ToolCallPiece:
    """One streamed fragment of a tool call: the first carries id and name, the rest argument text."""

    index: int
    arguments: str = ""
    id: str | None = None
    name: str | None = None


def new_call_id() -> str:
    return "call_" + secrets.token_hex(12)


# -- the prompt ------------------------------------------------------------------------------------
def plain_history(messages: list[Message]) -> list[Message]:
    """Tool turns rewritten as the plain system/user/assistant turns every chat template renders:
    an assistant's calls as the JSON it would write, a tool's result as a user turn naming the tool."""
    names: dict[str, str] = {}
    out: list[Message] = []
    for m in messages:
        role = m.get("role")
        if role == "assistant" and m.get("tool_calls"):
            calls = []
            for call in m["tool_calls"]:
                fn = call.get("function") or {}
                names[str(call.get("id"))] = str(fn.get("name"))
                calls.append(json.dumps({"name": fn.get("name"), "arguments": _loads_or_text(fn.get("arguments"))},
                                        ensure_ascii=False))
            out.append({"role": "assistant", "content": "\n".join(filter(None, [m.get("content") or "", *calls]))})
        elif role == "tool":
            name = names.get(str(m.get("tool_call_id")), "the tool")
            out.append({"role": "user", "content": f"Result of {name}: {m.get('content') or ''}"})
        else:
            out.append({"role": role, "content": m.get("content")})
    return out


def with_tools(messages: list[Message], use: ToolUse) -> list[Message]:
    """The messages with the offered tools described in the system turn (added when there is none)."""
    offered = use.offered
    if not offered:
        return messages
    listing = "\n".join(json.dumps({"name": t.name, "description": t.description, "parameters": t.parameters},
                                   ensure_ascii=False) for t in offered)
    call = '{"name": <tool name>, "arguments": <the arguments as a JSON object>}'
    if use.must_call:
        how = f"Reply with only a JSON object that calls the tool: {call}."
    else:
        how = (f"When a tool helps, reply with only a JSON object that calls it: {call}. Otherwise, and once a "
               "tool's result is there, answer in plain text.")
    text = f"You can call these tools:\n{listing}\n{how}"
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": f"{messages[0]['content']}\n\n{text}"}, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def _loads_or_text(arguments: Any) -> Any:
    if not isinstance(arguments, str):
        return arguments
    try:
        return json.loads(arguments)
    except ValueError:
        return arguments


# -- the grammar -----------------------------------------------------------------------------------
def call_schema(use: ToolUse) -> dict[str, Any]:
    """One JSON schema for "a call of one of the offered tools", each tool's ``$defs`` hoisted to the top
    (renamed per tool) so its ``$ref``s still resolve inside the combined schema."""
    offered = use.offered
    if not offered:
        raise InvalidInputError("tool_choice names a tool that is not in tools")
    defs: dict[str, Any] = {}
    options = []
    for i, tool in enumerate(offered):
        params = _hoist_defs(tool.parameters or {"type": "object"}, f"t{i}_", defs)
        options.append({"type": "object", "properties": {"name": {"const": tool.name}, "arguments": params},
                        "required": ["name", "arguments"], "additionalProperties": False})
    schema: dict[str, Any] = options[0] if len(options) == 1 else {"anyOf": options}
    return {**schema, "$defs": defs} if defs else schema


def _hoist_defs(schema: dict[str, Any], prefix: str, defs: dict[str, Any]) -> dict[str, Any]:
    local = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            out = {k: rewrite(v) for k, v in node.items() if k not in ("$defs", "definitions")}
            ref = node.get("$ref")
            if isinstance(ref, str):
                match = re.fullmatch(r"#/(?:\$defs|definitions)/(.+)", ref)
                if match is None:
                    raise InvalidInputError(f"tool parameters: only local $ref to $defs are supported, not {ref!r}")
                out["$ref"] = f"#/$defs/{prefix}{match.group(1)}"
            return out
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    for name, sub in local.items():
        defs[prefix + name] = rewrite(sub)
    return rewrite(schema)


def tools_grammar(call_grammar: str, use: ToolUse) -> str:
    """GBNF for the reply: the call grammar alone when a call is required, else a call or plain text.

    Plain text may not start with ``{`` (a call always does), so the first character decides."""
    if use.must_call:
        return call_grammar
    renamed, count = re.subn(r"^root ::=", "tool-call ::=", call_grammar, count=1, flags=re.MULTILINE)
    if count != 1:
        raise InvalidInputError("the tool grammar has no root rule")
    return renamed + '\nroot ::= tool-call | free-text\nfree-text ::= [^{\\x00] [^\\x00]*\n'


# -- reading the reply -----------------------------------------------------------------------------
_PREFIX = re.compile(r'\s*\{\s*"name"\s*:\s*"((?:[^"\\]|\\.)*)"\s*,\s*"arguments"\s*:\s*', re.DOTALL)


class ReplyReader:
    """Generated text in, OpenAI pieces out: plain text as it comes, or one tool call whose arguments
    stream as they are written (the envelope's closing brace held back until the end)."""

    def __init__(self, use: ToolUse | None) -> None:
        self.use = use
        offered = use.offered if use is not None else ()
        self.mode: Literal["text", "call"] | None = None if offered else "text"
        if offered and use is not None and use.must_call:
            self.mode = "call"
        self.text = ""
        self.calls: list[ToolCall] = []
        self._head: re.Match[str] | None = None
        self._sent = 0  # argument characters sent so far
        self._id = new_call_id()

    def feed(self, piece: str) -> list[str | ToolCallPiece]:
        self.text += piece
        if self.mode is None:
            started = self.text.lstrip()
            if not started:
                return []
            self.mode = "call" if started.startswith("{") else "text"
            piece = self.text
        if self.mode == "text":
            return [piece] if piece else []
        return self._call_pieces(final=False)

    def finish(self) -> list[str | ToolCallPiece]:
        """The rest of the reply, once generation ended."""
        if self.mode != "call":
            return []
        out = self._call_pieces(final=True)
        if self._head is None:
            return [self.text] if self.text else []  # cut off before the tool's name: what there is, as text
        name = json.loads(f'"{self._head.group(1)}"')
        self.calls.append(ToolCall(self._id, name, self._arguments(final=True)))
        return out

    def finish_reason(self, finish: str) -> str:
        return "tool_calls" if self.calls and finish == "stop" else finish

    def _call_pieces(self, final: bool) -> list[str | ToolCallPiece]:
        out: list[str | ToolCallPiece] = []
        if self._head is None:
            self._head = _PREFIX.match(self.text)
            if self._head is None:
                return out
            out.append(ToolCallPiece(0, "", self._id, json.loads(f'"{self._head.group(1)}"')))
        arguments = self._arguments(final)
        if len(arguments) > self._sent:
            out.append(ToolCallPiece(0, arguments[self._sent:]))
            self._sent = len(arguments)
        return out

    def _arguments(self, final: bool) -> str:
        assert self._head is not None
        rest = self.text[self._head.end():].lstrip()  # the space after "arguments": may come late
        if not final:
            return rest.rstrip("} \t\r\n")  # whatever trails may be the envelope's own closing brace
        whole = rest.rstrip()
        try:
            json.loads(self.text)
        except ValueError:
            return rest  # cut off (max_tokens): the arguments as far as they got
        return whole[:-1].rstrip() if whole.endswith("}") else whole
