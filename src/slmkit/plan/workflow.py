"""Fixed workflows: the same step graph as a plan, written once in YAML, run without a planner.

    name: triage
    description: Redact a customer message, find its department, file it in that queue.
    inputs:
      text: {type: string, description: the customer's message}
    steps:
      - {id: clean, tool: redact, args: {text: "${input.text}"}}
      - {id: dept, tool: classify, args: {text: "${clean.text}", labels: [billing, it_support, sales]}}
      - {id: file, tool: enqueue, args: {queue: "${dept.top}", text: "${clean.text}"}}
    output: "${file}"

Workflows are looked up by name in ``plan.workflows_dir`` (default ``<data_dir>/workflows``),
then among the examples shipped with slmkit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from slmkit.config import Settings, get_settings
from slmkit.errors import InvalidInputError
from slmkit.plan.graph import REF, Plan, parse, strings_in, validate
from slmkit.plan.tools import ToolRegistry

_TYPES: dict[str, type] = {"string": str, "integer": int, "number": float, "boolean": bool, "array": list,
                           "object": dict}


@dataclass
class Workflow:
    name: str
    description: str
    plan: Plan
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> {type, description, default}
    output: str | None = None  # a ${ref}; None: every step's output
    path: Path | None = None

    @classmethod
    def from_yaml(cls, source: str | Path) -> Workflow:
        """From a file path or YAML text; ``InvalidInputError`` says what is malformed."""
        path = Path(source) if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                                            and source.endswith((".yaml", ".yml"))) else None
        try:
            text = path.read_text(encoding="utf-8") if path is not None else str(source)
            data = yaml.safe_load(text)
        except OSError as exc:
            raise InvalidInputError(f"cannot read workflow {source}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"workflow is not valid YAML: {str(exc).splitlines()[0]}") from None
        return cls.from_dict(data, path)

    @classmethod
    def from_dict(cls, data: Any, path: Path | None = None) -> Workflow:
        if not isinstance(data, dict):
            raise InvalidInputError("a workflow is a mapping with name, steps and optionally inputs and output")
        name = data.get("name") or (path.stem if path else None)
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError("the workflow needs a name")
        inputs = data.get("inputs") or {}
        if not isinstance(inputs, dict):
            raise InvalidInputError(f"workflow {name}: inputs must map each input's name to its type")
        inputs = {k: ({"type": v} if isinstance(v, str) else dict(v or {})) for k, v in inputs.items()}
        for key, spec in inputs.items():
            if spec.get("type", "string") not in _TYPES:
                raise InvalidInputError(f"workflow {name}: input {key!r} has unknown type {spec.get('type')!r}; "
                                        f"use one of {', '.join(_TYPES)}")
        plan, problems = parse(data.get("steps"), request=str(data.get("description") or name),
                               source=f"workflow:{name}")
        if plan is None or problems:
            raise InvalidInputError(f"workflow {name}: " + "; ".join(str(p) for p in problems))
        output = data.get("output")
        if output is not None and not (isinstance(output, str) and REF.search(output)):
            output = "${" + str(output) + "}"  # a bare step id
        return cls(name=name, description=str(data.get("description") or ""), plan=plan, inputs=inputs,
                   output=output, path=path)

    def check(self, registry: ToolRegistry) -> None:
        """Refuse a workflow that cannot run: the plan's own checks, plus ${input.x} naming declared inputs."""
        problems = [str(p) for p in validate(self.plan, registry, inputs=set(self.inputs))]
        ids = {s.id for s in self.plan.steps}
        for s in self.plan.steps:
            for m in REF.finditer(strings_in(s.args)):
                if m.group(1) == "input":
                    field_ = m.group(2).lstrip(".").split(".")[0]
                    if field_ and field_ not in self.inputs:
                        problems.append(f"step {s.id}: ${{input.{field_}}} is not a declared input")
        if self.output is not None:
            for m in REF.finditer(self.output):
                if m.group(1) not in ids and m.group(1) != "input":
                    problems.append(f"output {self.output} names no step")
        if problems:
            raise InvalidInputError(f"workflow {self.name}: " + "; ".join(problems))

    def bind(self, inputs: Any) -> dict[str, Any]:
        """The run's inputs, checked against the declared ones (a lone string fills a single input)."""
        if isinstance(inputs, str) and len(self.inputs) == 1:
            inputs = {next(iter(self.inputs)): inputs}
        if not isinstance(inputs, dict):
            raise InvalidInputError(f"workflow {self.name} takes inputs {sorted(self.inputs)} as a mapping")
        unknown = sorted(set(inputs) - set(self.inputs))
        if unknown:
            raise InvalidInputError(f"workflow {self.name} has no input(s) {unknown}; it takes {sorted(self.inputs)}")
        bound: dict[str, Any] = {}
        for key, spec in self.inputs.items():
            if key not in inputs:
                if "default" in spec:
                    bound[key] = spec["default"]
                    continue
                raise InvalidInputError(f"workflow {self.name} needs input {key!r}"
                                        + (f" ({spec['description']})" if spec.get("description") else ""))
            value, kind = inputs[key], _TYPES[spec.get("type", "string")]
            if kind is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                raise InvalidInputError(f"workflow {self.name}: input {key!r} must be a {spec.get('type', 'string')}")
            if kind is str and not value.strip():
                raise InvalidInputError(f"workflow {self.name}: input {key!r} is empty")
            bound[key] = value
        return bound

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "inputs": self.inputs, "output": self.output,
                "steps": [s.to_dict() for s in self.plan.steps]}


def workflow_dirs(settings: Settings | None = None) -> list[Path]:
    s = settings or get_settings()
    user = s.plan.workflows_dir or s.data_dir / "workflows"
    return [Path(user).expanduser(), Path(str(resources.files("slmkit") / "data" / "workflows"))]


def list_workflows(settings: Settings | None = None) -> dict[str, Path]:
    """Every workflow found, by name; a user's file shadows a shipped example of the same name."""
    found: dict[str, Path] = {}
    for root in reversed(workflow_dirs(settings)):
        if root.is_dir():
            for path in sorted([*root.glob("*.yaml"), *root.glob("*.yml")]):
                found[path.stem] = path
    return found


class WorkflowNotFound(InvalidInputError):
    """``known`` lists the workflows there are; the message also names the folders searched, which the
    gateway keeps to itself (server paths are not a caller's business)."""

    def __init__(self, message: str, known: list[str] | None = None) -> None:
        super().__init__(message)
        self.known = known or []


def load_workflow(name_or_path: str, settings: Settings | None = None) -> Workflow:
    path = Path(name_or_path).expanduser()
    if path.suffix in (".yaml", ".yml"):
        if not path.is_file():
            raise WorkflowNotFound(f"no workflow file at {path}")
        return Workflow.from_yaml(path)
    known = list_workflows(settings)
    if name_or_path not in known:
        raise WorkflowNotFound(f"no workflow named {name_or_path!r}; known: {', '.join(known) or 'none'} "
                               f"(looked in {', '.join(str(d) for d in workflow_dirs(settings))})", list(known))
    return Workflow.from_yaml(known[name_or_path])

