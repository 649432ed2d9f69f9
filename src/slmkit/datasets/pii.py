"""Labelled synthetic PII from Presidio's public templates and fake identities, with a fixed seed.

Templates and identities come from the ``presidio-evaluator`` package (its
FakeNameGenerator.com identities: names, e-mails, addresses, birthdays,
companies); values the identities lack or hold in an unusable form (the credit
card numbers are in scientific notation) come from Faker, seeded. Each sentence
keeps the character span and type of every value it was filled with. A
``{{date_time}}`` (date and time of day) is labelled DATE, as Presidio's own
evaluator labels it a date; a year or a weekday alone is not labelled.

So every type is well represented, sentences are drawn in equal shares from
the templates that mention each of e-mail, phone, credit card, IBAN, person,
SSN, IP address and date of birth, plus a share drawn from all templates.
"""

from __future__ import annotations

import csv
import random
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from slmkit.datasets.archives import extract

PRESIDIO_EVALUATOR = "presidio-evaluator==0.3.2"
_RAW = "presidio_evaluator/data_generator/raw_data/"
# Faker draws dates up to "now" unless told an end: a fixed end keeps the set the same on every day.
DATES_END = datetime(2025, 12, 31, 23, 59)
_MEMBERS = [_RAW + "templates.txt", _RAW + "FakeNameGenerator.com_3000.csv", _RAW + "companies_and_organizations.csv",
            _RAW + "nationalities.csv"]
REQUIRED_TYPES = ("EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "PERSON")
# The placeholder that carries each type; the first five are the types with a quality bar.
_TEMPLATE_TYPE = {"EMAIL": "email", "PHONE": "phone_number", "CREDIT_CARD": "credit_card_number", "IBAN": "iban",
                  "PERSON": "person", "SSN": "ssn", "IP_ADDRESS": "ip_address", "DATE_OF_BIRTH": "date_of_birth"}
_PLACEHOLDER = re.compile(r"{{\s*([a-z_0-9]+)\s*}}")
_PERSON_KEYS = {"person", "name", "name_female", "name_male", "first_name", "first_name_male", "first_name_female",
                "first_name_nonbinary", "last_name", "last_name_male", "last_name_female"}
_IBAN_LOCALES = ("de_DE", "fr_FR", "nl_NL", "en_GB", "es_ES", "it_IT")


@dataclass(frozen=True)
class GoldSpan:
    type: str
    start: int
    end: int
    value: str


@dataclass(frozen=True)
class PiiSentence:
    text: str
    spans: tuple[GoldSpan, ...]
    template: int


def _files() -> dict[str, Any]:
    return extract(PRESIDIO_EVALUATOR, _MEMBERS)


def templates() -> list[str]:
    text = _files()[_RAW + "templates.txt"].read_text(encoding="utf-8")
    return [line.strip().replace("\\n", "\n") for line in text.splitlines() if line.strip()]


def _rows(member: str) -> list[dict[str, str]]:
    with _files()[_RAW + member].open(encoding="utf-8-sig", newline="") as handle:  # the files start with a BOM
        return list(csv.DictReader(handle))


def identities() -> list[dict[str, str]]:
    return _rows("FakeNameGenerator.com_3000.csv")


def _column(member: str, name: str) -> list[str]:
    return [row[name].strip() for row in _rows(member) if row.get(name, "").strip()]


class _Filler:
    """Values for one sentence: one identity, so a name and its e-mail belong together."""

    def __init__(self, rng: random.Random, fakers: dict[str, Any], person: dict[str, str],
                 companies: list[str], nationalities: list[str]) -> None:
        self.rng, self.fakers, self.p = rng, fakers, person
        self.companies, self.nationalities = companies, nationalities

    def birthday(self) -> str:
        month, day, year = (int(x) for x in self.p["Birthday"].split("/"))
        born = date(year, month, day)
        style = self.rng.randrange(3)
        return (born.strftime("%m/%d/%Y") if style == 0 else born.isoformat() if style == 1
                else born.strftime("%B %d, %Y").replace(" 0", " "))

    def value(self, key: str) -> tuple[str, str | None]:
        p, f, rng = self.p, self.fakers["en"], self.rng
        full = f"{p['GivenName']} {p['Surname']}"
        table: dict[str, tuple[Any, str | None]] = {
            "email": (lambda: p["EmailAddress"], "EMAIL"),
            "phone_number": (lambda: self.fakers[rng.choice(("us", "gb"))].phone_number(), "PHONE"),
            "credit_card_number": (self._card, "CREDIT_CARD"),
            "iban": (lambda: self._iban(), "IBAN"),
            "ssn": (lambda: self.fakers["us"].ssn(), "SSN"),
            "ip_address": (lambda: f.ipv4_public() if rng.random() < 0.8 else f.ipv6(), "IP_ADDRESS"),
            "date_of_birth": (self.birthday, "DATE_OF_BIRTH"),
            "address": (lambda: f"{p['StreetAddress']}, {p['City']}, {p['ZipCode']}", "LOCATION"),
            "street_name": (lambda: p["StreetAddress"], "LOCATION"),
            "city": (lambda: p["City"], "LOCATION"),
            "country": (lambda: p["CountryFull"], "LOCATION"),
            "state_abbr": (lambda: p["State"], "LOCATION"),
            "organization": (lambda: rng.choice(self.companies), "ORGANIZATION"),
            "prefix": (lambda: p["Title"], None), "prefix_male": (lambda: "Mr.", None),
            "prefix_female": (lambda: rng.choice(("Mrs.", "Ms.")), None),
            "age": (lambda: p["Age"], None),
            "job": (lambda: p["Occupation"], None),
            "year": (lambda: str(rng.randrange(1990, 2026)), None),
            "day_of_week": (f.day_of_week, None),
            "date_time": (lambda: f.date_time(end_datetime=DATES_END).strftime("%Y-%m-%d %H:%M"), "DATE"),
            "url": (f.url, None),
            "building_number": (f.building_number, None),
            "secondary_address": (f.secondary_address, None),
            "zipcode": (lambda: p["ZipCode"], None), "postcode": (lambda: p["ZipCode"], None),
            "us_driver_license": (lambda: f.bothify("?#######").upper(), None),
            "nationality": (lambda: rng.choice(self.nationalities).title(), None),
            "nation_woman": (lambda: rng.choice(self.nationalities).title(), None),
            "nation_plural": (lambda: rng.choice(self.nationalities).title() + "s", None),
        }
        if key in _PERSON_KEYS:
            part = p["GivenName"] if key.startswith("first") else p["Surname"] if key.startswith("last") else full
            return part, "PERSON"
        make, kind = table.get(key, (lambda: f.word(), None))
        return str(make()), kind

    def _card(self) -> str:
        number = self.fakers["en"].credit_card_number()
        if self.rng.random() < 0.4 and len(number) == 16:  # as people type them
            number = " ".join(number[i:i + 4] for i in range(0, 16, 4))
        return number

    def _iban(self) -> str:
        iban = self.fakers[self.rng.choice(_IBAN_LOCALES)].iban()
        if self.rng.random() < 0.5:  # printed form, in groups of four
            iban = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
        return iban


def fill(template: str, filler: _Filler, index: int) -> PiiSentence:
    out: list[str] = []
    spans: list[GoldSpan] = []
    position = 0
    cursor = 0
    for m in _PLACEHOLDER.finditer(template):
        literal = template[cursor:m.start()]
        out.append(literal)
        position += len(literal)
        value, kind = filler.value(m.group(1))
        if kind is not None and value.strip():  # some identities lack a field (no state): nothing to find
            spans.append(GoldSpan(kind, position, position + len(value), value))
        out.append(value)
        position += len(value)
        cursor = m.end()
    out.append(template[cursor:])
    return PiiSentence("".join(out), tuple(_merge_adjacent_names(spans, "".join(out))), index)


def _merge_adjacent_names(spans: list[GoldSpan], text: str) -> list[GoldSpan]:
    """"{{first_name}} {{last_name}}" is one person, as a reader (and the NER) sees it."""
    merged: list[GoldSpan] = []
    for span in spans:
        last = merged[-1] if merged else None
        if last and last.type == span.type == "PERSON" and text[last.end:span.start] == " ":
            merged[-1] = GoldSpan("PERSON", last.start, span.end, text[last.start:span.end])
        else:
            merged.append(span)
    return merged


def generate(n: int = 1200, seed: int = 13) -> list[PiiSentence]:
    """``n`` labelled sentences; the same ``seed`` always gives the same sentences."""
    from faker import Faker

    rng = random.Random(seed)
    fakers = {"en": Faker("en_US"), "us": Faker("en_US"), "gb": Faker("en_GB"),
              **{loc: Faker(loc) for loc in _IBAN_LOCALES}}
    for i, fk in enumerate(fakers.values()):
        fk.seed_instance(seed + i)
    people = identities()
    companies = _column("companies_and_organizations.csv", "organization")
    nationalities = _column("nationalities.csv", "nationality")
    all_templates = templates()
    pools = [[i for i, t in enumerate(all_templates) if "{{" + _TEMPLATE_TYPE[k] + "}}" in t
              or (k == "PERSON" and any("{{" + key + "}}" in t for key in _PERSON_KEYS))]
             for k in _TEMPLATE_TYPE]
    pools.append(list(range(len(all_templates))))
    sentences = []
    for i in range(n):
        index = rng.choice(pools[i % len(pools)])
        filler = _Filler(rng, fakers, rng.choice(people), companies, nationalities)
        sentences.append(fill(all_templates[index], filler, index))
    return sentences
