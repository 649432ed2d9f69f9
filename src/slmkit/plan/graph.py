"""A plan is a small graph of steps; this module checks one and mends what can be mended.

A step's arguments may reference earlier outputs: ``"${s1}"`` as a whole value passes the
output itself, ``"${s1.label}"`` one field of it, and inside a longer string the output is
written as text (``"Summarise: ${s1}"``). ``${input}`` (or ``${input.name}`` in a workflow)
is what the run was given.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from typing import Any

from slmkit.plan.tools import ToolRegistry

REF = re.compile(r"\$\{\s*([A-Za-z_][\w-]*)((?:\.[\w-]+)*)\s*\}")
_ID = re.compile(r"^[A-Za-z_][\w-]{0,39}$")


@dataclass
class Step:
    id: str
    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    timeout_s: float | None = None  # None: the tool's, else the executor's default
    retries: int | None = None
    fallback: dict[str, Any] | None = None  # {"tool": name, "args": {...}} run when every attempt failed
    ask: str | None = None  # the part of the request this step serves (planned steps); None in workflows

    def references(self) -> set[str]:
        """The step ids (and ``input``) this step's arguments read from."""
        return {m.group(1) for m in REF.finditer(strings_in(self.args))}

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "tool": self.tool, "args": self.args, "depends_on": self.depends_on}
        for key in ("timeout_s", "retries", "fallback", "ask"):
            if getattr(self, key) is not None:
                out[key] = getattr(self, key)
        return out


@dataclass
class Plan:
    steps: list[Step]
    request: str = ""
    source: str = ""  # who wrote it: "small", "large", "workflow:<name>", "fallback"
    repairs: list[str] = field(default_factory=list)  # what was mended, in words

    def step(self, step_id: str) -> Step:
        return next(s for s in self.steps if s.id == step_id)

    def tools(self) -> list[str]:
        return [s.tool for s in self.steps]

    def order(self) -> list[list[str]]:
        """The steps in waves: every step of a wave depends only on earlier waves (the plan must be valid)."""
        done: set[str] = set()
        waves: list[list[str]] = []
        left = list(self.steps)
        while left:
            wave = [s.id for s in left if set(s.depends_on) <= done]
            if not wave:
                raise ValueError("the plan has a cycle")
            waves.append(wave)
            done |= set(wave)
            left = [s for s in left if s.id not in done]
        return waves

    def to_dict(self) -> dict[str, Any]:
        return {"request": self.request, "source": self.source, "repairs": self.repairs,
                "steps": [s.to_dict() for s in self.steps]}


@dataclass(frozen=True)
class Problem:
    step: str | None
    message: str

    def __str__(self) -> str:
        return f"step {self.step}: {self.message}" if self.step else self.message


def parse(data: Any, request: str = "", source: str = "") -> tuple[Plan | None, list[Problem]]:
    """A ``Plan`` from JSON-like data (``{"steps": [...]}`` or a bare list), or the reasons it is not one."""
    raw = data.get("steps") if isinstance(data, dict) else data
    if not isinstance(raw, list) or not raw:
        return None, [Problem(None, "a plan needs a non-empty list of steps")]
    steps: list[Step] = []
    problems: list[Problem] = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            problems.append(Problem(None, f"step {n} is not an object"))
            continue
        deps = item.get("depends_on") or []
        if isinstance(deps, str):
            deps = [deps]
        args = item.get("args") or {}
        if not isinstance(args, dict):
            problems.append(Problem(str(item.get("id", n)), "args must be an object"))
            args = {}
        steps.append(Step(id=str(item.get("id") or f"s{n}"), tool=str(item.get("tool") or ""), args=args,
                          depends_on=[str(d) for d in deps] if isinstance(deps, list) else [],
                          timeout_s=item.get("timeout_s"), retries=item.get("retries"),
                          fallback=item.get("fallback"),
                          ask=item["ask"] if isinstance(item.get("ask"), str) else None))
    return Plan(steps, request=request, source=source), problems


def validate(plan: Plan, registry: ToolRegistry, inputs: set[str] | None = None, max_steps: int = 32) -> list[Problem]:
    """Everything that would stop ``plan`` from running: unknown tools, bad arguments, dangling
    references, dependencies on unknown steps, cycles. Empty when the plan is runnable."""
    problems: list[Problem] = []
    if not plan.steps:
        return [Problem(None, "the plan has no steps")]
    if len(plan.steps) > max_steps:
        problems.append(Problem(None, f"{len(plan.steps)} steps; at most {max_steps} are allowed"))
    ids = [s.id for s in plan.steps]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(Problem(dup, "the id is used by more than one step"))
    known = set(ids)
    for s in plan.steps:
        if not _ID.match(s.id) or s.id == "input":
            problems.append(Problem(s.id, "ids are letters, digits, _ or -, start with a letter, and are not 'input'"))
        if s.tool not in registry:
            problems.append(Problem(s.id, f"unknown tool {s.tool!r}"))
        else:
            problems.extend(Problem(s.id, m) for m in _arg_problems(s, registry))
        for d in s.depends_on:
            if d not in known:
                problems.append(Problem(s.id, f"depends on unknown step {d!r}"))
            elif d == s.id:
                problems.append(Problem(s.id, "depends on itself"))
        for ref in s.references():
            if ref == "input":
                if inputs is not None and not inputs:
                    problems.append(Problem(s.id, "${input} is used but the run has no input"))
            elif ref not in known:
                problems.append(Problem(s.id, f"references ${{{ref}}}, which is not a step"))
            elif ref not in ancestors(plan, s.id):
                problems.append(Problem(s.id, f"uses the output of {ref} but does not depend on it"))
        problems.extend(Problem(s.id, m) for m in _field_problems(s, plan, registry))
        if s.fallback is not None:
            fb = s.fallback.get("tool") if isinstance(s.fallback, dict) else None
            if fb not in registry:
                problems.append(Problem(s.id, f"fallback tool {fb!r} is not registered"))
    if not any(p.message.startswith(("depends on unknown", "depends on itself")) for p in problems) \
            and len(set(ids)) == len(ids):
        try:
            plan.order()
        except ValueError:
            problems.append(Problem(None, "the dependencies form a cycle"))
    return problems


def ancestors(plan: Plan, step_id: str) -> set[str]:
    """Every step ``step_id`` waits for, directly or through other steps."""
    deps = {s.id: s.depends_on for s in plan.steps}
    seen: set[str] = set()
    todo = list(deps.get(step_id, []))
    while todo:
        d = todo.pop()
        if d not in seen and d in deps:
            seen.add(d)
            todo.extend(deps[d])
    return seen


def repair(plan: Plan, registry: ToolRegistry) -> Plan:
    """Mend what needs no judgement: duplicate or malformed ids, near-miss tool names, missing or
    unknown dependencies, arguments the tool does not take, and back edges (a step may only depend
    on steps listed before it). What cannot be mended is left for ``validate`` to report."""
    repairs = list(plan.repairs)
    steps: list[Step] = []
    seen: set[str] = set()
    renamed: dict[str, str] = {}
    offered = registry.names(offered=True)
    for n, s in enumerate(plan.steps, 1):
        s = Step(s.id, s.tool, dict(s.args), list(s.depends_on), s.timeout_s, s.retries, s.fallback, s.ask)
        if not _ID.match(s.id) or s.id in seen or s.id == "input":
            new = f"s{n}" if f"s{n}" not in seen else f"step{n}"
            repairs.append(f"step {s.id!r} renamed {new!r}")
            if s.id not in seen:  # a malformed id: references to it follow; a duplicate's go to the first
                renamed.setdefault(s.id, new)
            s.id = new
        if s.tool not in registry:
            close = difflib.get_close_matches(s.tool, offered, n=1, cutoff=0.6)
            if close:
                repairs.append(f"{s.id}: tool {s.tool!r} read as {close[0]!r}")
                s.tool = close[0]
        if s.tool in registry:
            params = registry.get(s.tool).params
            extra = [k for k in s.args if k not in params]
            if extra and len(params) == 1 and not any(k in params for k in s.args) and len(s.args) == 1:
                repairs.append(f"{s.id}: argument {extra[0]!r} read as {params[0]!r}")
                s.args = {params[0]: s.args[extra[0]]}
            else:
                for k in extra:
                    repairs.append(f"{s.id}: dropped argument {k!r}, which {s.tool} does not take")
                    del s.args[k]
        seen.add(s.id)
        steps.append(s)
    tools = {s.id: s.tool for s in steps}
    for s in steps:
        s.args = _whole_for_unknown_fields(s.args, tools, registry, repairs, s.id)
    earlier: set[str] = set()
    for s in steps:
        s.args = _rename_refs(s.args, renamed)
        s.depends_on = [renamed.get(d, d) for d in s.depends_on]
        reached = ancestors(Plan(steps), s.id)
        used = sorted(r for r in s.references() if r != "input" and r not in reached)
        wanted = list(dict.fromkeys([*s.depends_on, *used]))
        kept = [d for d in wanted if d in earlier]
        for d in wanted:
            if d not in kept:
                repairs.append(f"{s.id}: dropped dependency on {d!r} (not an earlier step)")
            elif d not in s.depends_on:
                repairs.append(f"{s.id}: added dependency on {d!r}, whose output it uses")
        s.depends_on = kept
        earlier.add(s.id)
    return Plan(steps, request=plan.request, source=plan.source, repairs=repairs)


def drop_unserving(plan: Plan) -> Plan:
    """The plan without steps that serve no ask: a step is kept when it names an ask or a kept step
    uses its output. Over-planning (a tool nobody asked for) ends here rather than in the run."""
    needed = {s.id for s in plan.steps if s.ask is not None}
    for s in plan.steps:
        if s.id in needed:
            needed |= ancestors(plan, s.id)
    dropped = [s for s in plan.steps if s.id not in needed]
    if not dropped:
        return plan
    repairs = [*plan.repairs, *(f"dropped {s.id} ({s.tool}): it serves no ask" for s in dropped)]
    return Plan([s for s in plan.steps if s.id in needed], request=plan.request, source=plan.source, repairs=repairs)


# -- resolving references at run time ---------------------------------------------------------------
def resolve(value: Any, outputs: dict[str, Any]) -> Any:
    """``value`` with every ``${ref}`` replaced by what ``outputs`` holds for it."""
    if isinstance(value, str):
        whole = REF.fullmatch(value.strip())
        if whole:
            return _lookup(whole.group(1), whole.group(2), outputs)
        return REF.sub(lambda m: as_text(_lookup(m.group(1), m.group(2), outputs)), value)
    if isinstance(value, list):
        return [resolve(v, outputs) for v in value]
    if isinstance(value, dict):
        return {k: resolve(v, outputs) for k, v in value.items()}
    return value


def as_text(value: Any) -> str:
    """How an output reads inside a string: its ``text`` when it has one, else compact JSON."""
    import json

    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return value["text"]
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False, default=str)


class UnresolvedReference(LookupError):
    """A step reads an output that does not exist (or lacks the field it names)."""


def _lookup(name: str, path: str, outputs: dict[str, Any]) -> Any:
    if name not in outputs:
        raise UnresolvedReference(f"${{{name}}} has no output")
    value = outputs[name]
    for key in filter(None, path.split(".")):
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            raise UnresolvedReference(f"${{{name}{path}}}: the output has no {key!r}")
    return value


def strings_in(value: Any) -> str:
    """Every string inside ``value``, joined: where references are searched for."""
    if isinstance(value, dict):
        return " ".join(strings_in(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(strings_in(v) for v in value)
    return value if isinstance(value, str) else ""


def _rename_refs(value: Any, renamed: dict[str, str]) -> Any:
    if not renamed:
        return value
    if isinstance(value, str):
        return REF.sub(lambda m: "${" + renamed.get(m.group(1), m.group(1)) + m.group(2) + "}", value)
    if isinstance(value, list):
        return [_rename_refs(v, renamed) for v in value]
    if isinstance(value, dict):
        return {k: _rename_refs(v, renamed) for k, v in value.items()}
    return value


def _arg_problems(step: Step, registry: ToolRegistry) -> list[str]:
    """Argument errors, judging a whole-value reference as acceptable for any type (it is checked
    again at run time, once the referenced output exists)."""
    from pydantic import ValidationError

    tool = registry.get(step.tool)
    props = tool.input_schema().get("properties", {})
    probe = {k: _probe(v, props.get(k)) for k, v in step.args.items()}
    try:
        tool.inputs.model_validate(probe)
    except ValidationError as exc:
        return [f"{step.tool} argument {'.'.join(str(p) for p in e['loc']) or '?'}: {e['msg']}"
                for e in exc.errors()[:4]]
    return []


def _probe(value: Any, schema: dict[str, Any] | None) -> Any:
    """A stand-in of the right type for a whole-value reference, so validation looks past it."""
    if isinstance(value, str) and REF.fullmatch(value.strip()) and schema is not None:
        kinds = [schema] + schema.get("anyOf", [])
        for k in kinds:
            t = k.get("type")
            if t == "string":
                return "x"
            if t == "array":
                return []
            if t == "object":
                return {}
            if t in ("integer", "number"):
                return 1
            if t == "boolean":
                return True
            if "enum" in k:
                return k["enum"][0]
    return value


def _field_problems(step: Step, plan: Plan, registry: ToolRegistry) -> list[str]:
    """``${s1.field}`` must name a field the tool behind s1 declares in its output schema."""
    tools = {s.id: s.tool for s in plan.steps}
    out = []
    for m in REF.finditer(strings_in(step.args)):
        name, path = m.group(1), m.group(2).lstrip(".")
        if name == "input" or name not in tools or not path or tools[name] not in registry:
            continue
        fields = _output_fields(registry, tools[name])
        first = path.split(".")[0]
        if fields is not None and first not in fields:
            shown = ", ".join(fields) if fields else "a single value"
            out.append(f"${{{name}.{first}}}: {tools[name]} outputs {shown}, not {first!r}")
    return out


def _whole_for_unknown_fields(value: Any, tools: dict[str, str], registry: ToolRegistry, repairs: list[str],
                              step_id: str) -> Any:
    """``${s1.text}`` where s1's tool has no ``text`` field becomes ``${s1}``: the whole output, as text."""
    if isinstance(value, list):
        return [_whole_for_unknown_fields(v, tools, registry, repairs, step_id) for v in value]
    if isinstance(value, dict):
        return {k: _whole_for_unknown_fields(v, tools, registry, repairs, step_id) for k, v in value.items()}
    if not isinstance(value, str):
        return value

    def mend(m: re.Match) -> str:
        name, path = m.group(1), m.group(2).lstrip(".")
        if not path or tools.get(name) not in registry:
            return m.group(0)
        fields = _output_fields(registry, tools[name])
        if fields is None or path.split(".")[0] in fields:
            return m.group(0)
        repairs.append(f"{step_id}: ${{{name}.{path}}} read as ${{{name}}} ({tools[name]} has no {path!r})")
        return "${" + name + "}"

    return REF.sub(mend, value)


def _output_fields(registry: ToolRegistry, tool: str) -> list[str] | None:
    """The fields a reference may name in ``tool``'s output: [] for a single value (str, int, list),
    None when any key may exist (a free-form mapping) and nothing can be checked."""
    schema = registry.get(tool).output_schema()
    if "properties" in schema:
        return list(schema["properties"])
    if schema.get("type") == "object" or "anyOf" in schema or not schema:
        return None
    return []
