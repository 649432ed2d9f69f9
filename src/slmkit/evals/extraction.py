"""`slmkit eval extract`: structured extraction on synthetic notes whose answers are known.

Each case is a short contact note, order confirmation or meeting request written
from Faker identities (fixed seed) in shuffled, rephrased sentences, so the
same 100 cases come back on every run. Some notes leave a field out on purpose:
the right answer there is "absent", which measures invention as well as recall.
"""

from __future__ import annotations

import math
import random
import statistics
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from rich.console import Console
from rich.table import Table

Progress = Callable[[int], None]

CONTACT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "the person's full name"},
        "email": {"type": "string", "description": "the person's email address"},
        "company": {"type": "string", "description": "the company the person works for"},
        "city": {"type": "string", "description": "the city the person is based in"},
        "age": {"type": "integer", "description": "age in years"},
    },
    "required": ["name", "email"],
}
ORDER = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "the customer's full name"},
        "order_id": {"type": "string", "description": "the order number, exactly as written"},
        "amount": {"type": "number", "description": "the total price"},
        "date": {"type": "string", "format": "date", "description": "the delivery date"},
        "city": {"type": "string", "description": "the delivery city"},
    },
    "required": ["name", "order_id", "amount", "date"],
}
MEETING = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "description": "the full name of the person asking to meet"},
        "company": {"type": "string", "description": "that person's company"},
        "email": {"type": "string", "description": "that person's email address"},
        "date": {"type": "string", "format": "date", "description": "the proposed meeting date"},
        "city": {"type": "string", "description": "the city where the meeting takes place"},
    },
    "required": ["name", "date"],
}
SCHEMAS: dict[str, dict] = {"contact": CONTACT, "order": ORDER, "meeting": MEETING}

# One list of phrasings per field; {first} is the first name, the rest are field values.
_CONTACT_PHRASES = {
    "name": ["Contact note: {name}.", "New lead: {name}.", "Spoke with {name} today.", "Notes on {name}."],
    "email": ["Email: {email}.", "You can reach {first} at {email}.", "{first}'s address is {email}.",
              "Best contact is {email}."],
    "company": ["{first} works at {company}.", "Employer: {company}.", "{first} is with {company}.",
                "Currently at {company}."],
    "city": ["{first} is based in {city}.", "Lives in {city}.", "Location: {city}.", "Home office in {city}."],
    "age": ["{first} is {age} years old.", "Age: {age}.", "{first} turned {age} this year.", "Aged {age}."],
}
_ORDER_PHRASES = {
    "name": ["Thank you, {name}, for your order.", "Order confirmation for {name}.", "Customer: {name}.",
             "Hello {name}, we have received your order."],
    "order_id": ["Your order number is {order_id}.", "Reference: {order_id}.", "Order {order_id} is confirmed.",
                 "Please quote {order_id} in any reply."],
    "amount": ["The total charged was {amount}.", "Amount paid: {amount}.", "You were billed {amount} in total.",
               "Total: {amount}."],
    "date": ["It will be delivered on {date}.", "Expected delivery: {date}.", "Your parcel arrives {date}.",
             "Delivery is scheduled for {date}."],
    "city": ["It ships to our depot in {city}.", "Delivery address: {city}.", "Destination city: {city}.",
             "We deliver to {city}."],
}
_MEETING_PHRASES = {
    "name": ["{name} would like to set up a meeting.", "Meeting request from {name}.",
             "{name} asked to meet with the team.", "Hi, this is {name}; can we meet?"],
    "company": ["{first} represents {company}.", "{first} is calling on behalf of {company}.",
                "Company: {company}.", "{first} joined {company} last spring."],
    "email": ["Reply to {email}.", "Confirm by writing to {email}.", "{first}'s email is {email}.",
              "Contact: {email}."],
    "date": ["The proposed date is {date}.", "Suggested day: {date}.", "Could we do {date}?",
             "{first} is free on {date}."],
    "city": ["The meeting would be in {city}.", "Venue: their office in {city}.", "Place: {city}.",
             "{first} suggests meeting in {city}."],
}
_PHRASES = {"contact": _CONTACT_PHRASES, "order": _ORDER_PHRASES, "meeting": _MEETING_PHRASES}
# Sentences that mention none of the fields, so the model has something to ignore.
_FILLER = ["We talked mostly about the roadmap.", "Nothing else to add for now.", "Thanks again!",
           "The weather was terrible all week.", "Follow up next quarter.", "See the attached notes."]


@dataclass(frozen=True)
class ExtractionCase:
    kind: str  # "contact" | "order" | "meeting": which schema
    text: str
    expected: dict[str, Any]  # every property of the schema; None where the text leaves it out

    @property
    def schema(self) -> dict:
        return SCHEMAS[self.kind]


def _date_phrase(day: date, rng: random.Random) -> str:
    style = rng.randrange(3)
    if style == 0:
        return day.isoformat()
    if style == 1:
        return f"{day:%B} {day.day}, {day.year}"
    return f"{day.day} {day:%B} {day.year}"


def _amount_phrase(amount: float, rng: random.Random) -> str:
    text = f"{amount:,.2f}" if rng.random() < 0.7 else f"{amount:.2f}"
    return rng.choice([f"${text}", f"{text} USD", f"USD {text}", f"{text} dollars"])


def _identity(fake: Any, rng: random.Random) -> dict[str, Any]:
    first, last = fake.first_name(), fake.last_name()
    order_id = f"{rng.choice(['ORD', 'PO', 'INV', 'SO'])}-{rng.randrange(10_000, 999_999)}"
    amount = round(rng.uniform(5, 5000), 2) if rng.random() < 0.8 else float(rng.randrange(10, 900))
    return {
        "first": first,
        "name": f"{first} {last}",
        "email": f"{first}.{last}@{fake.domain_name()}".lower(),
        "company": fake.company(),
        "city": fake.city(),
        "age": rng.randrange(21, 70),
        "order_id": order_id,
        "amount": amount,
        "date": fake.date_between(start_date=date(2024, 1, 1), end_date=date(2026, 12, 31)),
    }


def _case(kind: str, fake: Any, rng: random.Random) -> ExtractionCase:
    schema = SCHEMAS[kind]
    person = _identity(fake, rng)
    optional = [f for f in schema["properties"] if f not in schema["required"]]
    # About a third of the notes leave one optional field out.
    absent = {rng.choice(optional)} if optional and rng.random() < 0.35 else set()
    values = {**person, "date": _date_phrase(person["date"], rng), "amount": _amount_phrase(person["amount"], rng)}
    phrases = _PHRASES[kind]
    body = [rng.choice(phrases[f]).format(**values) for f in schema["properties"] if f != "name" and f not in absent]
    if rng.random() < 0.4:
        body.append(rng.choice(_FILLER))
    rng.shuffle(body)
    text = " ".join([rng.choice(phrases["name"]).format(**values), *body])
    expected = {f: None if f in absent else person[f] for f in schema["properties"]}
    if expected.get("date") is not None:
        expected["date"] = person["date"].isoformat()
    return ExtractionCase(kind, text, expected)


def extraction_cases(n: int = 100, seed: int = 13) -> list[ExtractionCase]:
    """``n`` cases cycling through the three schemas; the same ``seed`` gives the same cases."""
    from faker import Faker

    fake = Faker("en_US")
    fake.seed_instance(seed)
    rng = random.Random(seed)
    kinds = list(SCHEMAS)
    return [_case(kinds[i % len(kinds)], fake, rng) for i in range(n)]


# -- scoring -------------------------------------------------------------------------------------
def _norm(value: Any) -> Any:
    # A trailing full stop is ambiguous in "Erin represents Higgins Ltd.": it may end the sentence.
    if isinstance(value, str):
        return " ".join(value.split()).casefold().removesuffix(".")
    return value


def field_matches(expected: Any, predicted: Any) -> bool:
    """Exact match after normalising case, whitespace and a final full stop; numbers compare numerically."""
    if expected is None or predicted is None:
        return expected is None and predicted is None
    numbers = (int, float)
    if isinstance(expected, numbers) and not isinstance(expected, bool):
        if isinstance(predicted, bool) or not isinstance(predicted, numbers):
            return False
        return math.isclose(float(expected), float(predicted), rel_tol=1e-9, abs_tol=1e-6)
    return _norm(expected) == _norm(predicted)


@dataclass
class ExtractionReport:
    model: str
    n: int
    schema_valid_rate: float  # answers valid against the caller's schema (failures count as invalid)
    failures: int  # cases where Extract raised instead of answering
    field_accuracy: float  # over every (case, field) pair, absent fields included
    per_field: dict[str, float]
    per_kind: dict[str, float]
    absent_accuracy: float | None  # of fields the text leaves out, the share answered as absent
    mean_attempts: float
    mean_latency_s: float
    median_latency_s: float  # steadier than the mean when other work shares the CPUs
    total_s: float
    warm_up_s: float
    mean_prompt_tokens: float
    mean_completion_tokens: float
    mismatches: list[dict] = field(default_factory=list)  # the first few wrong fields, to read

    def to_dict(self) -> dict:
        return asdict(self)


def eval_extract(n: int = 100, generator: str | None = None, progress: Progress | None = None,
                 seed: int = 13, max_mismatches: int = 20) -> ExtractionReport:
    from slmkit.errors import SlmkitError
    from slmkit.skills.extract import Extract

    started = time.perf_counter()
    cases = extraction_cases(n, seed)
    skills = {kind: Extract(schema, generator=generator) for kind, schema in SCHEMAS.items()}
    validators = {kind: _validator(schema) for kind, schema in SCHEMAS.items()}
    for skill in skills.values():
        skill.warm_up()
    warm_up_s = time.perf_counter() - started

    hits: dict[str, list[bool]] = defaultdict(list)
    by_kind: dict[str, list[bool]] = defaultdict(list)
    absent: list[bool] = []
    valid = failures = 0
    attempts: list[int] = []
    latencies: list[float] = []
    prompt_tokens: list[int] = []
    completion_tokens: list[int] = []
    mismatches: list[dict] = []
    model = generator or ""
    for index, case in enumerate(cases):
        t0 = time.perf_counter()
        try:
            result = skills[case.kind](case.text)
        except SlmkitError as exc:
            result = None
            if len(mismatches) < max_mismatches:
                mismatches.append({"case": index, "kind": case.kind, "error": str(exc), "text": case.text})
        latencies.append(time.perf_counter() - t0)
        predicted: dict = {}
        if result is None:
            failures += 1
            attempts.append(skills[case.kind].retries + 1)
        else:
            predicted = result.data
            model = result.model
            valid += validators[case.kind].is_valid(predicted)
            attempts.append(result.attempts)
            prompt_tokens.append(result.prompt_tokens)
            completion_tokens.append(result.completion_tokens)
        for name, gold in case.expected.items():
            ok = result is not None and field_matches(gold, predicted.get(name))
            hits[name].append(ok)
            by_kind[case.kind].append(ok)
            if gold is None:
                absent.append(ok)
            if not ok and result is not None and len(mismatches) < max_mismatches:
                mismatches.append({"case": index, "kind": case.kind, "field": name, "expected": gold,
                                   "predicted": predicted.get(name), "text": case.text})
        if progress:
            progress(1)

    every = [ok for oks in hits.values() for ok in oks]
    return ExtractionReport(
        model=model,
        n=len(cases),
        schema_valid_rate=valid / len(cases) if cases else 0.0,
        failures=failures,
        field_accuracy=_mean(every),
        per_field={name: _mean(oks) for name, oks in sorted(hits.items())},
        per_kind={kind: _mean(oks) for kind, oks in by_kind.items()},
        absent_accuracy=_mean(absent) if absent else None,
        mean_attempts=_mean(attempts),
        mean_latency_s=_mean(latencies),
        median_latency_s=statistics.median(latencies) if latencies else 0.0,
        total_s=time.perf_counter() - started,
        warm_up_s=warm_up_s,
        mean_prompt_tokens=_mean(prompt_tokens),
        mean_completion_tokens=_mean(completion_tokens),
        mismatches=mismatches,
    )


def _validator(schema: dict) -> Any:
    """Checked independently of ``Extract``, with formats asserted, so a lenient skill cannot pass itself."""
    from jsonschema.validators import validator_for

    cls = validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def _mean(values: Sequence[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def print_extraction(report: ExtractionReport, console: Console | None = None) -> None:
    console = console or Console()
    summary = Table(title=f"extract on {report.n} synthetic notes ({report.model})")
    for column in ("schema-valid", "failures", "field acc.", "absent acc.", "attempts", "latency/case (median)",
                   "total"):
        summary.add_column(column, justify="right")
    summary.add_row(
        f"{report.schema_valid_rate:.1%}", str(report.failures), f"{report.field_accuracy:.1%}",
        f"{report.absent_accuracy:.1%}" if report.absent_accuracy is not None else "-",
        f"{report.mean_attempts:.2f}", f"{report.mean_latency_s:.2f} s ({report.median_latency_s:.2f} s)",
        f"{report.total_s:.0f} s",
    )
    console.print(summary)
    fields = Table(title="exact-match accuracy per field and per note kind")
    fields.add_column("field / kind")
    fields.add_column("accuracy", justify="right")
    for name, accuracy in report.per_field.items():
        fields.add_row(name, f"{accuracy:.1%}")
    for kind, accuracy in report.per_kind.items():
        fields.add_row(f"[italic]{kind} notes[/italic]", f"{accuracy:.1%}")
    console.print(fields)
