"""The tool registry: every callable a plan or workflow may use, with typed inputs and outputs.

    registry = ToolRegistry()

    @registry.tool(timeout_s=5)
    def word_count(text: str) -> int:
        "Count the words in a text."
        return len(text.split())

The input schema comes from the signature, the output schema from the return
annotation (both through pydantic), so the planner sees JSON schema and the
executor can check what a tool was given and what it gave back.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, get_type_hints

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

from slmkit.errors import InvalidInputError


class ToolOutputError(Exception):
    """A tool returned something its declared output schema does not allow."""


@dataclass
class Tool:
    name: str
    description: str
    fn: Callable[..., Any]
    inputs: type[BaseModel]
    output: TypeAdapter
    timeout_s: float | None = None  # None: the executor's default
    retries: int = 0  # extra attempts after a failure
    # The step that replaces this one when it keeps failing: (tool name, argument overrides).
    fallback: tuple[str, dict[str, Any]] | None = None
    hidden: bool = False  # registered and runnable, but not offered to the planner
    # A few asks this tool serves, in users' words: the planner shortlists tools for an ask by
    # similarity to these and the description (plan/shortlist.py).
    examples: tuple[str, ...] = ()
    # Reports which tier or model ran the call and what it cost, from the raw output.
    account: Callable[[Any], tuple[str, float]] | None = None

    @property
    def params(self) -> list[str]:
        return list(self.inputs.model_fields)

    def input_schema(self) -> dict[str, Any]:
        return _plain(self.inputs.model_json_schema())

    def output_schema(self) -> dict[str, Any]:
        return _plain(self.output.json_schema())

    def check_args(self, args: dict[str, Any]) -> dict[str, Any]:
        """The arguments as the function will receive them, or ``InvalidInputError`` saying what is wrong."""
        try:
            model = self.inputs.model_validate(args)
        except ValidationError as exc:
            raise InvalidInputError(f"{self.name}: {_errors(exc)}") from None
        return {name: getattr(model, name) for name in self.inputs.model_fields}

    def check_output(self, value: Any) -> Any:
        """The output as JSON-able data, or ``ToolOutputError`` when it breaks the declared schema."""
        try:
            checked = self.output.validate_python(value, strict=False)
            return self.output.dump_python(checked, mode="json")
        except ValidationError as exc:
            raise ToolOutputError(f"{self.name} returned output that breaks its schema: {_errors(exc)}") from None

    def signature(self) -> str:
        """``name(arg: type, arg?: type)``: the one line a planner reads."""
        schema = self.input_schema()
        required = set(schema.get("required", []))
        parts = []
        for name, prop in schema.get("properties", {}).items():
            parts.append(f"{name}{'' if name in required else '?'}: {_type_name(prop)}")
        return f"{self.name}({', '.join(parts)})"

    def __call__(self, **kwargs: Any) -> Any:
        return self.fn(**self.check_args(kwargs))


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, Tool] = {}

    def add(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise InvalidInputError(f"a tool named {tool.name!r} is already registered")
        self._tools[tool.name] = tool
        return tool

    def tool(self, fn: Callable[..., Any] | None = None, *, name: str | None = None, description: str | None = None,
             timeout_s: float | None = None, retries: int = 0, fallback: tuple[str, dict[str, Any]] | None = None,
             hidden: bool = False, account: Callable[[Any], tuple[str, float]] | None = None,
             examples: Sequence[str] = ()) -> Any:
        """Register a function (used bare as ``@registry.tool`` or with options); ``examples`` are a few
        asks the tool serves, in users' words, which the planner's shortlist compares requests with."""

        def register(f: Callable[..., Any]) -> Callable[..., Any]:
            self.add(make_tool(f, name=name, description=description, timeout_s=timeout_s, retries=retries,
                               fallback=fallback, hidden=hidden, account=account, examples=examples))
            return f

        return register(fn) if fn is not None else register

    def remove(self, name: str) -> Tool:
        """Unregister a tool (a process-wide user tool that should no longer be offered)."""
        tool = self.get(name)
        del self._tools[name]
        return tool

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise InvalidInputError(f"unknown tool {name!r}; registered: {', '.join(self._tools)}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools.values())

    def __len__(self) -> int:
        return len(self._tools)

    def names(self, offered: bool = False) -> list[str]:
        return [t.name for t in self._tools.values() if not (offered and t.hidden)]

    def merged(self, other: ToolRegistry) -> ToolRegistry:
        """A registry holding this one's tools and ``other``'s (``other`` wins on a name clash)."""
        out = ToolRegistry()
        out._tools = {**self._tools, **other._tools}
        return out


def make_tool(fn: Callable[..., Any], *, name: str | None = None, description: str | None = None,
              timeout_s: float | None = None, retries: int = 0, fallback: tuple[str, dict[str, Any]] | None = None,
              hidden: bool = False, account: Callable[[Any], tuple[str, float]] | None = None,
              examples: Sequence[str] = ()) -> Tool:
    """A ``Tool`` from a typed function: every parameter and the return value must be annotated."""
    tool_name = name or fn.__name__
    if isinstance(examples, str) or not all(isinstance(e, str) and e.strip() for e in examples):
        raise InvalidInputError(f"tool {tool_name}: examples is a list of non-empty asks (strings)")
    hints = get_type_hints(fn, include_extras=True)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise InvalidInputError(f"tool {tool_name}: *args and **kwargs cannot be described as a schema")
        if param.name not in hints:
            raise InvalidInputError(f"tool {tool_name}: parameter {param.name!r} needs a type annotation")
        default = ... if param.default is inspect.Parameter.empty else param.default
        fields[param.name] = (hints[param.name], default)
    if "return" not in hints:
        raise InvalidInputError(f"tool {tool_name}: the return type needs an annotation (it is the output schema)")
    inputs = create_model(f"{tool_name}_inputs", __config__=ConfigDict(extra="forbid"), **fields)
    doc = description or inspect.getdoc(fn) or ""
    return Tool(name=tool_name, description=doc.strip().split("\n\n")[0].replace("\n", " "), fn=fn, inputs=inputs,
                output=TypeAdapter(hints["return"]), timeout_s=timeout_s, retries=retries, fallback=fallback,
                hidden=hidden, account=account, examples=tuple(e.strip() for e in examples))


# -- schema helpers ----------------------------------------------------------------------------------
def _plain(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema without titles, and with local ``$ref``s inlined: what a grammar converter and a
    small model handle best."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node and node["$ref"].startswith("#/$defs/"):
                return walk(defs[node["$ref"].split("/")[-1]])
            return {k: walk(v) for k, v in node.items() if k not in ("title", "$defs")}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def _type_name(prop: dict[str, Any]) -> str:
    if "anyOf" in prop:
        return " | ".join(_type_name(p) for p in prop["anyOf"])
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list[{_type_name(prop.get('items', {}))}]"
    if kind == "object" and "additionalProperties" in prop:
        return f"dict[str, {_type_name(prop['additionalProperties'])}]"
    if "enum" in prop:
        return "|".join(repr(v) for v in prop["enum"])
    return {"string": "str", "integer": "int", "number": "float", "boolean": "bool", "null": "null"}.get(kind, kind)


def _errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'value'}: {e['msg']}" for e in exc.errors()[:5])


# The process-wide registry user tools join with the module-level ``tool`` decorator.
_USER = ToolRegistry()


def tool(fn: Callable[..., Any] | None = None, **options: Any) -> Any:
    """Register a user function as a tool every planner and workflow in this process can use."""
    return _USER.tool(fn, **options)


def user_tools() -> ToolRegistry:
    return _USER
