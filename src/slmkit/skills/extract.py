"""``extract``: fill a caller's JSON schema from text with the local generator, under a grammar.

Grammar-constrained decoding makes the output parse as JSON of the right shape, but
llama.cpp's converter drops some keywords (``minimum``, ``format: email``...) and a
small model can still put ``null`` where the caller requires a value. So every
answer is validated against the caller's own schema, and a bounded number of
retries (with the validation error fed back and the sampling varied) follow.

Two llama.cpp traps are closed before any generation: a schema its converter
cannot translate is silently replaced by "any JSON", and a translation its C
grammar parser rejects crashes the process. Both become ``InvalidInputError``.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from slmkit.errors import InvalidInputError, SlmkitError
from slmkit.models.llama import schema_grammar
from slmkit.skills.base import clean
from slmkit.text import per_item, unbatch

Message = dict[str, str]

# First attempt greedy; later ones sample, so a retry is not the same answer again.
_SAMPLING = ((0.0, 0), (0.4, 1), (0.7, 2), (0.9, 3))

# The converter reads ``{}`` as "any object"; an unconstrained field means any JSON value.
_ANY = {"type": ["string", "number", "boolean", "array", "object"]}

# The date grammar is year-first; a model copying "19 May 2026" starts with "19" and writes 1955-05-19.
_FORMATS = {"date": "date as YYYY-MM-DD, year first", "date-time": "ISO 8601 date-time, year first",
            "time": "time as HH:MM:SS"}


class ExtractionError(SlmkitError):
    """The generator's answer did not satisfy the schema within the allowed attempts."""

    exit_code = 5


@dataclass(frozen=True)
class Extraction:
    data: dict[str, Any]
    attempts: int
    prompt_tokens: int  # summed over attempts
    completion_tokens: int
    model: str


def check_schema(schema: object) -> None:
    """Refuse schemas that are not valid JSON Schema, or not an object with named properties."""
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, dict):
        raise InvalidInputError(f"the schema must be a JSON object (dict), got {type(schema).__name__}")
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.path) or "(root)"
        raise InvalidInputError(f"invalid JSON schema at {where}: {exc.message}") from None
    if schema.get("type", "object") != "object" or not isinstance(schema.get("properties"), dict) \
            or not schema["properties"]:
        raise InvalidInputError('extraction needs a schema with "type": "object" and at least one property')


def generation_schema(schema: dict) -> dict:
    """The schema the grammar enforces: every top-level field present, null allowed, no extra keys.

    Forcing every key makes a small model consider each field instead of stopping
    early; allowing null gives it an honest answer for facts the text lacks.
    """
    properties = {
        name: {"anyOf": [copy.deepcopy(sub) if isinstance(sub, dict) and sub else _ANY, {"type": "null"}]}
        for name, sub in schema["properties"].items()
        if sub is not False
    }
    out = {k: copy.deepcopy(v) for k, v in schema.items() if k in ("$defs", "definitions")}
    out.update(type="object", properties=properties, required=list(properties), additionalProperties=False)
    return out


def describe_fields(schema: dict) -> str:
    lines = []
    required = set(schema.get("required", []))
    for name, sub in schema["properties"].items():
        sub = sub if isinstance(sub, dict) else {}
        kind = sub.get("type", "value")
        kind = " or ".join(kind) if isinstance(kind, list) else kind
        if sub.get("format") in _FORMATS:
            kind += f", {_FORMATS[sub['format']]}"
        elif sub.get("format"):
            kind += f", {sub['format']}"
        if "enum" in sub:
            kind = "one of " + ", ".join(json.dumps(v) for v in sub["enum"])
        note = f": {sub['description']}" if sub.get("description") else ""
        lines.append(f"- {name} ({kind}{', required' if name in required else ''}){note}")
    return "\n".join(lines)


def system_prompt(schema: dict, instructions: str | None) -> str:
    parts = [
        "You extract facts from the user's text into a JSON object.",
        "Use only facts stated in the text; never guess or invent values. "
        "If the text does not state a field, use null.",
        "Copy names, emails and identifiers exactly as written. Numbers are plain JSON numbers without "
        "currency signs or thousands separators. Dates are YYYY-MM-DD.",
        "Fields:\n" + describe_fields(schema),
        # Without a worked null, the 0.5B model filled absent fields 0/8 times on a dev set; with it, 5/8.
        'Example. Fields: person, phone, due (date), town. '
        'Text: "Call Ana Ruiz on 555-0199 about the invoice before 3 March 2025." '
        'Answer: {"person": "Ana Ruiz", "phone": "555-0199", "due": "2025-03-03", "town": null} '
        "(the text names no town, so town is null).",
    ]
    if instructions:
        parts.append(instructions.strip())
    return "\n\n".join(parts)


def tidy(data: dict, schema: dict, validator: Any) -> dict:
    """Drop the nulls that stand for "absent" where the caller's schema does not itself accept null."""
    required = set(schema.get("required", []))
    refused = {e.path[0] for e in validator.iter_errors(data) if len(e.path) == 1}
    return {k: v for k, v in data.items() if not (v is None and k not in required and k in refused)}


class Extract:
    name = "extract"

    def __init__(self, schema: dict, *, generator: str | None = None, retries: int = 2,
                 instructions: str | None = None, max_tokens: int = 256) -> None:
        from jsonschema.validators import validator_for

        check_schema(schema)
        if not 0 <= retries < len(_SAMPLING):
            raise InvalidInputError(f"retries must be between 0 and {len(_SAMPLING) - 1}, got {retries}")
        if not 16 <= max_tokens <= 2048:
            raise InvalidInputError(f"max_tokens must be between 16 and 2048, got {max_tokens}")
        self.schema = copy.deepcopy(schema)
        cls = validator_for(self.schema)
        # Formats are annotations only by default; a caller who writes "format": "date" means it.
        self.validator = cls(self.schema, format_checker=cls.FORMAT_CHECKER)
        self.grammar_schema = generation_schema(self.schema)
        self.grammar = schema_grammar(self.grammar_schema)
        self.generator_name = generator
        self.retries = retries
        self.max_tokens = max_tokens
        self.system = system_prompt(self.schema, instructions)
        self._generator: Any = None

    def warm_up(self) -> Extract:
        if self._generator is None:
            from slmkit.models.llama import get_generator

            generator = get_generator(self.generator_name)
            generator.check_json_schema(self.grammar_schema)
            self._generator = generator
        return self

    def __call__(self, items: object) -> Extraction | list[Extraction]:
        batch, single = clean(items)
        self.warm_up()
        return unbatch(per_item(batch, single, self.one), single)

    def one(self, text: str) -> Extraction:
        self.warm_up()
        messages: list[Message] = [{"role": "system", "content": self.system}, {"role": "user", "content": text}]
        prompt_tokens = completion_tokens = 0
        problem = ""
        for attempt, (temperature, seed) in enumerate(_SAMPLING[: self.retries + 1], start=1):
            completion = self._ask(messages, temperature, seed)
            prompt_tokens += completion.prompt_tokens
            completion_tokens += completion.completion_tokens
            data, problem = self.parse(completion.text, completion.finish_reason)
            if data is not None:
                return Extraction(data, attempt, prompt_tokens, completion_tokens, completion.model)
            messages = messages[:2] + [
                {"role": "assistant", "content": completion.text},
                {"role": "user", "content": f"That answer is wrong: {problem}. Reply with the corrected JSON only."},
            ]
        raise ExtractionError(
            f"no schema-valid answer after {self.retries + 1} attempt(s); last problem: {problem}"
        )

    def _ask(self, messages: list[Message], temperature: float, seed: int) -> Any:
        try:
            return self._generator.chat(messages, max_tokens=self.max_tokens, temperature=temperature,
                                        seed=seed, json_schema=self.grammar_schema)
        except InvalidInputError:
            # The text alone overflowing the context is the caller's problem and surfaces as it is;
            # the feedback of a retry overflowing it is ours, so that retry goes without it.
            if len(messages) == 2:
                raise
            return self._generator.chat(messages[:2], max_tokens=self.max_tokens, temperature=temperature,
                                        seed=seed, json_schema=self.grammar_schema)

    def parse(self, text: str, finish_reason: str) -> tuple[dict | None, str]:
        """``(data, "")`` if ``text`` is JSON valid for the caller's schema, else ``(None, why not)``."""
        from jsonschema.exceptions import best_match

        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            cut = " (the answer hit max_tokens)" if finish_reason == "length" else ""
            return None, f"output is not JSON{cut}: {exc.msg} at character {exc.pos}"
        if not isinstance(data, dict):
            return None, f"output is a JSON {type(data).__name__}, not an object"
        data = tidy(data, self.schema, self.validator)
        error = best_match(self.validator.iter_errors(data))
        if error is not None:
            where = "/".join(str(p) for p in error.path) or "(root)"
            return None, f"field {where}: {error.message}"
        return data, ""
