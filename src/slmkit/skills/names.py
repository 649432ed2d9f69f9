"""Finding people's names the small NER model misses or mistypes.

en_core_web_sm is trained on news text: it often calls an unfamiliar name an
organisation ("My name is Maarit Pohjonen" -> ORG), misses a lone first name,
and calls street names people ("9 Rue Gabes"). Three cheap corrections, each
needing the token to be tagged a proper noun by spaCy's tagger:

- a gazetteer of ~31k given names, collected from Faker's person providers for every
  locale it ships (public name lists; not the identities the evaluation draws from);
- context that introduces a name ("my name is", "Dear", "Mr.", "call me", "maiden name is");
- street words ("Street", "Rue", "Via", "-straat", "-vej"...) make a span a location.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

_STREET_WORDS = frozenset({
    "street", "st", "st.", "road", "rd", "rd.", "avenue", "ave", "ave.", "av.", "avenida", "boulevard", "blvd",
    "lane", "ln", "drive", "dr", "dr.", "way", "place", "pl", "court", "ct", "square", "sq", "terrace", "close",
    "crescent", "highway", "rue", "via", "viale", "calle", "rua", "ul.", "ulica", "apt", "apt.", "suite", "plaza",
    "strada", "allee", "platz", "gasse", "carrer", "travessa", "praça", "estrada", "piazza", "vei", "veien",
})
_STREET_SUFFIXES = ("straat", "strasse", "straße", "str", "str.", "vej", "gade", "weg", "laan", "gatan", "vägen",
                    "katu", "tie", "utca")
_ORG_WORDS = frozenset({
    "inc", "inc.", "ltd", "ltd.", "llc", "plc", "corp", "corp.", "corporation", "company", "co", "co.", "group",
    "bank", "holdings", "nv", "n.v.", "sa", "s.a.", "ag", "gmbh", "ab", "asa", "oyj", "spa", "s.p.a.", "trust",
    "fund", "partners", "university", "institute", "association", "foundation", "services", "solutions",
    "systems", "technologies", "international", "capital", "energy", "industries", "limited", "sports", "se",
})
_NOT_NAMES = frozenset({
    "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November",
    "December", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "Phone", "Mobile",
    "Name", "Email", "Address", "Date", "Desk", "Office", "Website", "Personal", "Info",
})
_GREETINGS_AND_TITLES = frozenset({
    "hi", "hello", "hey", "dear", "mr", "mr.", "mrs", "mrs.", "ms", "ms.", "miss", "dr", "dr.", "prof", "prof.",
    "sir", "madam", "producer", "director", "ceo", "dr", "by",
})
# Capitalised at the start of a sentence, then a name: "Call Marie Hamanová", "Thanks Anna".
_LEADING_VERBS = frozenset({"call", "email", "e-mail", "contact", "ask", "tell", "meet", "thanks", "ping", "text"})
_UNIT_WORDS = frozenset({"suite", "apt", "apt.", "unit", "flat", "floor"})
_INTRO = re.compile(
    r"(?:\bmy name is|\bname is|\bname's|\bname\?|\bname:|\bcall me|\bthis is|\bdear|\bhi|\bhello|\bhey"
    r"|\bmr\.?|\bmrs\.?|\bms\.?|\bmiss|\bdr\.?|\bprof\.?|\bsigned|\bregards,?|\bsincerely,?"
    r"|\bcall|\bemail|\bcontact|\bask|\btell|\bmeet|\bthanks|\bsays|\bsaid|\bnamed|\bcalled|\bstarring|\bdirected by:?|\bwritten by:?|\battn:?|\bcontact:|\bcustomer:|\buser:"
    r"|\baddress:|\bto:|\bfrom:|\bcc:)\s*$",
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    import importlib
    import pkgutil

    import faker.providers.person as people

    names: set[str] = set()
    for module in pkgutil.iter_modules(people.__path__):
        try:
            provider = importlib.import_module(f"{people.__name__}.{module.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in ("first_names", "first_names_male", "first_names_female", "first_names_nonbinary"):
            value = getattr(provider, attr, None)
            if isinstance(value, dict | list | tuple | set | frozenset):
                names.update(n for n in value if isinstance(n, str) and n[:1].isupper() and n.isalpha())
    return frozenset(names)


def is_street(words: list[str]) -> bool:
    return any(w.lower() in _STREET_WORDS or w.lower().endswith(_STREET_SUFFIXES) for w in words)


def is_org(words: list[str]) -> bool:
    return any(w.lower().strip(",") in _ORG_WORDS for w in words)


def looks_like_person(words: list[str], proper: list[bool]) -> bool:
    """Title-case proper nouns, a known given name first, no organisation or street word."""
    return (
        0 < len(words) <= 3
        and all(proper)
        and all(w[:1].isupper() for w in words)
        and words[0] in given_names()
        and words[0] not in _NOT_NAMES
        and not is_org(words)
        and not is_street(words)
    )


def proper_noun_runs(doc: Any) -> list[tuple[int, int, list[str], list[bool]]]:
    """(start char, end char, words, is-proper-noun flags) for each run of capitalised tokens on one line."""
    runs = []
    current: list[Any] = []
    for token in [*doc, None]:
        ok = (token is not None and token.text[:1].isupper() and token.text.replace("-", "").replace("'", "").isalpha()
              and token.text.lower() not in _GREETINGS_AND_TITLES)
        if ok and current and "\n" in doc.text[current[-1].idx:token.idx]:
            ok_same_line = False
        else:
            ok_same_line = True
        if ok and ok_same_line:
            current.append(token)
            continue
        if current:
            runs.append((current[0].idx, current[-1].idx + len(current[-1].text), [t.text for t in current],
                         [t.tag_ in ("NNP", "NNPS") for t in current]))
        current = [token] if ok else []
    return runs


def introduced(text: str, start: int) -> bool:
    return bool(_INTRO.search(text[max(0, start - 20):start]))


def is_field_word(value: str) -> bool:
    """'Phone', 'Name', 'June': words the NER sometimes calls a person."""
    return value in _NOT_NAMES


def in_address_line(text: str, start: int, end: int) -> bool:
    """'262 Pavlou Drandaki, Limassol, 3012': a line of comma-separated parts ending in a postcode."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start:line_end if line_end != -1 else len(text)]
    return bool(re.search(r",[^,\n]+,\s*[A-Z]{0,3}[\d][\w -]*\s*[.)]?\s*$", line))


def name_line(text: str, start: int, end: int, words: list[str]) -> bool:
    """A line holding only two or three capitalised words, heading a block that carries contact data:
    the name on a signature or contact card."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line = text[line_start:line_end if line_end != -1 else len(text)].strip(" \t>*-")
    return (2 <= len(words) <= 3 and line == text[start:end] and "\n" in text
            and bool(re.search(r"@|\d{3}[\s.)-]*\d{3}", text[end:end + 200])))


def line_initial(text: str, start: int) -> bool:
    """At the start of a line or sentence, capitalisation says nothing about a word."""
    before = text[:start].rstrip(" \t>*-")
    return not before or before[-1] in "\n.!?:\"'"


def leading_noise(words: list[str]) -> int:
    """How many words at the front of a span are a greeting, title or verb rather than the name."""
    count = 0
    while count < len(words) - 1 and (words[count].lower() in _GREETINGS_AND_TITLES
                                       or words[count].lower() in _LEADING_VERBS):
        count += 1
    return count


def without_units(words: list[str]) -> list[str]:
    """'Jonathan Holst Suite' -> 'Jonathan Holst': an address unit that follows a name is not part of it."""
    while words and words[-1].lower() in _UNIT_WORDS:
        words = words[:-1]
    return words


def house_numbered(text: str, start: int, end: int) -> bool:
    """'214 Pavlou Drandaki, Leivadia': a number right before the words makes them a street."""
    return bool(re.search(r"\d[\w/-]*\s+$", text[max(0, start - 8):start]))
