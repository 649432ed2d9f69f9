"""Finding people's names the small NER model misses or mistypes.

en_core_web_sm is trained on news text: it often calls an unfamiliar name an
organisation ("My name is Maarit Pohjonen" -> ORG), misses a lone first name,
and calls street names people ("9 Rue Gabes"). Cheap corrections:

- gazetteers of given names and surnames, collected from Faker's person providers for
  every locale it ships (public name lists, romanised Japanese included; not the identities
  the evaluation draws from), and of place names from its address providers;
- context that introduces a name ("my name is", "Dear", "Mr.", "call me", "maiden name is");
- street words ("Street", "Rue", "Via", "-straat", "-vej"...) make a span a location;
- capitals where English has none: a capitalised word in mid-sentence that no English
  dictionary lists in lower case (Webster's 2nd, from the ``english-words`` package) and
  no place list knows is a name ("Why is Chizu so impulsive?", "add Zikret Rajkovič as a
  beneficiary"); at the start of a sentence, where every word is capitalised, it must also
  go on like a sentence ("Kadyrov began writing", "Fletcher, can I ...").
"""

from __future__ import annotations

import io
import pickle
import re
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

from slmkit.models.spacy_nlp import fine_tag

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
# Every alternative starts at a word boundary: written once in front, the engine rejects most places by
# their first letter instead of trying each alternative there.
_INTRO = re.compile(
    r"\b(?:my name is|name is|name's|name\?|name:|call me|this is|dear|hi|hello|hey"
    r"|mr\.?|mrs\.?|ms\.?|miss|dr\.?|prof\.?|signed|regards,?|sincerely,?"
    r"|call|email|contact|ask|tell|meet|thanks|says|said|named|called|starring|directed by:?|written by:?|attn:?"
    r"|contact:|customer:|user:|address:|to:|from:|cc:)\s*$",
    re.IGNORECASE,
)


def _faker_lists(package: str, attrs: Iterable[str]) -> set[str]:
    """Every string in the named list attributes of Faker's providers under ``package``, for every locale."""
    import importlib
    import pkgutil

    base = importlib.import_module(package)
    out: set[str] = set()
    for module in pkgutil.iter_modules(base.__path__):
        try:
            provider = importlib.import_module(f"{package}.{module.name}").Provider
        except (ImportError, AttributeError):
            continue
        for attr in attrs:
            value = getattr(provider, attr, None)
            if isinstance(value, dict | list | tuple | set | frozenset):
                out.update(n for n in value if isinstance(n, str))
    return out


def _names(values: Iterable[str]) -> frozenset[str]:
    return frozenset(n for n in values if n[:1].isupper() and n.isalpha() and len(n) > 1)


@lru_cache(maxsize=1)
def given_names() -> frozenset[str]:
    return _names(_faker_lists("faker.providers.person", (
        "first_names", "first_names_male", "first_names_female", "first_names_nonbinary",
        "first_romanized_names", "first_romanized_names_male", "first_romanized_names_female")))


@lru_cache(maxsize=1)
def surnames() -> frozenset[str]:
    return _names(_faker_lists("faker.providers.person", (
        "last_names", "last_names_male", "last_names_female", "last_names_nonbinary", "last_names_unisex",
        "last_names_common", "last_romanized_names", "unisex_last_names", "male_last_names")))


@lru_cache(maxsize=1)
def place_names() -> frozenset[str]:
    """Countries, regions and towns in Faker's address providers, every locale, as written there."""
    return frozenset(_faker_lists("faker.providers.address", (
        "countries", "cities", "city_names", "real_city_names", "towns", "municipalities", "villages", "states",
        "provinces", "regions", "localities", "settlements", "counties", "metropolitan_cities", "districts",
        "boroughs", "communes", "departments", "cantons", "prefectures")))


class _WordSetOnly(pickle.Unpickler):
    """The word lists ship as pickled sets of strings: load those, refuse anything that names a class."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"unexpected object {module}.{name} in a word list")


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """English dictionary words, lower-cased: the lower-case entries of Webster's 2nd (~210k; its
    capitalised entries, proper nouns such as places, peoples and given names, are left out) and
    the GCIDE headwords (~115k, with WordNet's newer words: 'fax', 'email', 'online'), both from
    the ``english-words`` package."""
    from importlib import resources

    def load(name: str) -> set[str]:
        data = resources.files("english_words").joinpath("data", f"{name}.pickle").read_bytes()
        return _WordSetOnly(io.BytesIO(data)).load()

    web2 = {w for w in load("web2") if w[:1].islower()}
    return frozenset(web2 | load("gcide_lower"))


def is_english_word(word: str) -> bool:
    """In the dictionary as written, or once a plural, possessive or verb ending is taken off."""
    words, lower = english_words(), word.lower()
    if lower in words or lower in common_words():
        return True
    for suffix, replacement in (("'s", ""), ("’s", ""), ("ies", "y"), ("es", ""), ("s", ""), ("ing", ""),
                                ("ing", "e"), ("ed", ""), ("ed", "e"), ("ers", ""), ("er", "")):
        if lower.endswith(suffix) and len(lower) - len(suffix) >= 3 and lower[:-len(suffix)] + replacement in words:
            return True
    return False


@lru_cache(maxsize=1)
def common_words() -> frozenset[str]:
    """About 1,300 of the most frequent English words (Faker's English lorem list and spaCy's stop words):
    'Will', 'May', 'Even' or 'Hope' opening a sentence is a word before it is a name."""
    from faker.providers.lorem.en_US import Provider
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(Provider.word_list) | frozenset(STOP_WORDS)


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """spaCy's English stop words (pronouns, determiners, auxiliaries): words that name nothing, unlike
    the frequent nouns in ``common_words`` ("owner", "member", "court" can be a contract's terms)."""
    from spacy.lang.en.stop_words import STOP_WORDS

    return frozenset(STOP_WORDS)


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


def proper_noun_runs(doc: Any, text: str | None = None) -> list[tuple[int, int, list[str], list[Any]]]:
    """(start char, end char, words, spaCy tokens) for each run of capitalised tokens on one line. ``text``
    is the doc's text, if the caller has it (spaCy joins its tokens for each ask)."""
    runs = []
    current: list[Any] = []
    text = doc.text if text is None else text
    for token in [*doc, None]:
        ok = (token is not None and token.text[:1].isupper() and token.text.replace("-", "").replace("'", "").isalpha()
              and token.text.lower() not in _GREETINGS_AND_TITLES)
        if ok and current and "\n" in text[current[-1].idx:token.idx]:
            ok_same_line = False
        else:
            ok_same_line = True
        if ok and ok_same_line:
            current.append(token)
            continue
        if current:
            runs.append((current[0].idx, current[-1].idx + len(current[-1].text), [t.text for t in current],
                         current))
        current = [token] if ok else []
    return runs


def tagged_proper(tokens: list[Any]) -> bool:
    """Every token tagged a proper noun (NNP, NNPS). Asked last, of the few runs every cheaper test let
    through: the tagger runs on a window around them only (``fine_tag``)."""
    return all(fine_tag(t) in _PROPER_TAGS for t in tokens)


# NER labels the pii skill does not report but that still say what a capitalised word is. The small
# model also calls unfamiliar surnames nationalities ("the Strømsnes novel"): NORP counts only for
# words shaped like one (Ukrainian, Taiwanese, Sikh, Uzbek).
_NOT_PERSON_LABELS = frozenset({"LANGUAGE", "PRODUCT", "EVENT", "FAC", "LAW", "DATE", "TIME"})
_DEMONYM = re.compile(r"(?:an|ese|ish|i|ic|ite|er|ch|k|kh)s?$")
_PROPER_TAGS = frozenset({"NNP", "NNPS"})
_NOUN_TAGS = frozenset({"NNP", "NNPS", "NN", "NNS"})
# After a name at the start of a sentence: a lower-case word ("Kadyrov began"), a comma and more
# ("Fletcher, can I"), or a colon opening a quotation (a speaker in a transcript: 'Yaco: "Who are you?"').
_GOES_ON = re.compile(r"(?:['’]s\b)?(?:[ \t]+[a-z]|,[ \t]*\S|:[ \t]*[\"“'‘])")


def word_kind(w: str) -> str:
    """'name' (a listed given name or surname that is no English word), 'word-name' (a listed given name
    that is also a less common dictionary word: Felicity, Rose), 'unlisted' (no dictionary or list knows
    it), 'word' (any other dictionary word) or 'other' (a place or an acronym)."""
    shape = w[2:] if w.startswith("IJ") else w[1:] if w[:1].isupper() and w[1:2].islower() else w
    if re.search(r"[A-Z]{2}", shape):  # CEOs, NASA, iOS; the Dutch capital IJ is one letter (IJzermans)
        return "other"
    given, family = w in given_names(), w in surnames()
    word = is_english_word(w)
    if not word and (given or family):
        return "name"
    if word:
        return "word-name" if given and w.lower() not in common_words() else "word"
    return "other" if w in place_names() else "unlisted"


def _word_kind(token: Any) -> str:
    """``word_kind``, and 'other' where the NER calls the word a product, law, event, nationality..."""
    kind = word_kind(token.text)
    if kind == "unlisted" and (token.ent_type_ in _NOT_PERSON_LABELS
                               or (token.ent_type_ == "NORP" and _DEMONYM.search(token.text))):
        return "other"
    return kind


def person_not_org(words: list[str], kind: str) -> bool:
    """An NER organisation that reads as a person's name: two or three words, at least one a listed
    name, none a dictionary word or a place ("add Rami Martinsson as guardian"), or one listed given
    name that is no English word, place or country ("The true gender of Laurencio")."""
    if not 1 <= len(words) <= 3 or any(not w[:1].isupper() for w in words):
        return False
    if any(w in place_names() or _country_pattern().fullmatch(w) for w in words):
        return False
    kinds = [word_kind(w) for w in words]
    if kind != "ORGANIZATION":  # the gazetteers miss too many towns named like people: Sydney, Milan, Houston
        return False
    if len(words) == 1:
        return kinds[0] == "name" and words[0] in given_names()
    return "name" in kinds and all(k in ("name", "unlisted") for k in kinds)


# A capitalised word in an address: the street before a house number ("Slipager 71, København K"),
# the town after one ("Mäe 47, Aruküla"), or a town before a postcode.
_STREET_AFTER = re.compile(r"\s+\d{1,5}[A-Za-z]?\b(?!\s*(?:years?|yrs?|y/o|%))")
_TOWN_BEFORE = re.compile(r"\d{1,5}[A-Za-z]?,\s*$")
_POSTCODE_AFTER = re.compile(r",?\s+(?:[A-Z]{1,2}\s*)?\d{3,5}(?:[- ]\d{2,4})?(?:\s+[A-Z]{2})?\s*(?:[,.\n]|$)")
# Verbs whose object is a person: after them a capitalised dictionary word is a name ("had given Even his
# address", "ask Will about it", "add Hope as a beneficiary").
_PERSON_OBJECT = re.compile(
    r"\b(?:gave|given|give|gives|giving|told|tell|tells|asked|ask|asks|named|call|called|calls|thank|thanked|paid"
    r"|pay|sent|send|invited|invite|hired|hire|married|marry|met|meet|emailed|texted|phoned|helped|help|remind"
    r"|reminded|introduced|introduce|congratulate|congratulated|add|added|cc|pinged|ping)"
    r"(?:\s+(?:him|her|them|me|us))?\s+$",
    re.IGNORECASE,
)
_PLACE_PREPOSITIONS = frozenset({"in", "at", "near", "outside", "inside", "around", "across", "via", "towards",
                                 "toward", "into", "within"})


def place_by_capitals(text: str, tokens: list[Any]) -> tuple[int, int] | None:
    """(start, end) of a place: capitalised words no dictionary or name list knows, right after "in",
    "at", "near"... or "city", "town", "village" ("arrived at Seyðisfjörður", "home city MÜHLBACH")."""
    if not 1 <= len(tokens) <= 4:
        return None
    start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
    m = re.search(r"(\w+)\s+$", text[max(0, start - 15):start])
    if not (m and (m.group(1).lower() in _PLACE_PREPOSITIONS or m.group(1).lower() in ("city", "town", "village"))):
        return None
    for t in tokens:
        w = t.text
        if (w in _NOT_NAMES or is_english_word(w) or w in given_names() or w in surnames()
                or t.ent_type_ in _NOT_PERSON_LABELS or (w.isupper() and len(w) < 4)):
            return None
    return start, end


def _address_part(text: str, start: int, end: int) -> bool:
    before = text[max(0, start - 12):start]
    return bool(_STREET_AFTER.match(text, end) or _TOWN_BEFORE.search(before) or _POSTCODE_AFTER.match(text, end))


def _after_place_preposition(text: str, start: int) -> bool:
    m = re.search(r"(\w+)\s+$", text[max(0, start - 15):start])
    return bool(m and m.group(1).lower() in _PLACE_PREPOSITIONS)


def name_by_capitals(text: str, tokens: list[Any]) -> tuple[int, int] | None:
    """(start, end) of a name in a run of capitalised tokens that no English dictionary explains.

    In mid-sentence, capitals mark proper nouns: one to three words that are listed names or
    that no dictionary, place list or NER label accounts for are taken for a person. At the
    start of a line or sentence every word is capitalised, so the run must also go on like a
    sentence, or stand alone on a line of a multi-line text (a name heading a card) with two or
    three words; a lone unlisted word there must be tagged a proper noun."""
    while len(tokens) > 1 and tokens[0].text.lower() in common_words() and tokens[0].text not in given_names():
        tokens = tokens[1:]  # "The", "Have", "Why" in front of a name
    if not 1 <= len(tokens) <= 3:
        return None
    words = [t.text for t in tokens]
    if len(words[-1]) <= 2 and text.startswith(".", tokens[-1].idx + len(words[-1])):
        return None  # an abbreviation: "Gl. Sygehusvej", "St."
    if (any(w in _NOT_NAMES or w.isupper() or len(w) < 2 for w in words)  # field words, acronyms, CAPS lines
            or is_org(words) or is_street(words) or " ".join(words) in place_names()):
        return None
    kinds = [_word_kind(t) for t in tokens]
    # A role or title in apposition before the name: "Plaintiff Wanjiru Kamau alleges", "Senator Kamau":
    # dictionary words, then words no dictionary explains, one of them a listed name.
    lead = 0
    while lead < len(kinds) - 1 and kinds[lead] == "word":
        lead += 1
    if lead and "name" in kinds[lead:] and all(k in ("name", "unlisted") for k in kinds[lead:]):
        tokens, kinds, words = tokens[lead:], kinds[lead:], words[lead:]
    start, end = tokens[0].idx, tokens[-1].idx + len(tokens[-1].text)
    if (text[end:end + 1] in "-‐" and end < len(text)) or text[start - 1:start] in ("-", "‐"):
        return None  # part of a compound: Bre-X, Franco-African, French-owned
    if _address_part(text, start, end) or _after_place_preposition(text, start):
        return None
    initial = line_initial(text, start)
    if kinds == ["word"] and not initial and _PERSON_OBJECT.search(text[max(0, start - 30):start]):
        return start, end
    if "other" in kinds or "word" in kinds or all(k == "word-name" for k in kinds) and len(kinds) > 1:
        return None
    if not initial:
        if kinds == ["word-name"] and fine_tag(tokens[0]) not in _PROPER_TAGS:
            return None
        return start, end
    # What follows on the line, read in place: a copy of the rest of a long line per run is quadratic.
    if _GOES_ON.match(text, end):  # never reads past the line's end
        if len(tokens) > 1 or kinds == ["name"]:
            return start, end
        comma = text.startswith(",", end)
        vocative = comma and len(words[0]) >= 4  # "Esat, can I ...", not "Btw, ..."
        if (kinds == ["unlisted"] and (vocative or fine_tag(tokens[0]) in _PROPER_TAGS)) or (
                kinds == ["word-name"] and (comma or fine_tag(tokens[0]) in _NOUN_TAGS)):
            return start, end
        return None
    alone = bool(_BLANK_TO_LINE_END.match(text, end)) and _line_lead_start(text, start) is not None
    if alone and len(tokens) > 1 and _several_lines(text):
        return start, end
    return None


_BLANK_TO_LINE_END = re.compile(r"[^\S\n]*(?:\n|\Z)")
_LINE_LEAD_CHARS = " \t>*-"


def _line_lead_start(text: str, start: int) -> int | None:
    """Where the line holding ``start`` begins, if only quote markers, bullets and blanks come before
    ``start`` on it; None if anything else does. Reads back over those characters only."""
    i = start
    while i > 0 and text[i - 1] in _LINE_LEAD_CHARS:
        i -= 1
    return i if i == 0 or text[i - 1] == "\n" else None


@lru_cache(maxsize=8)
def _several_lines(text: str) -> bool:
    """Text with a line break between its first and last visible characters (asked once per text, not per name)."""
    return "\n" in text.strip()


# -- addresses and countries ------------------------------------------------------------------
_POSTCODE = (r"(?:[A-Z]{2}[ \t]+)?(?:[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}|[A-Z]\d[A-Z][ \t]?\d[A-Z]\d"
             r"|\d{3,6}(?:[- ]\d{2,4})?(?:[ \t][A-Z]{2})?|\d{2}-\d{3})")  # the last: Polish, "62-800"
# "Street 12, Town, 12345", "12 Street Name, Town, AB1 2CD", "P.O. Box 9, Town, 3970": one line, two commas.
_ONE_LINE_ADDRESS = re.compile(
    r"(?<![\w.])(?P<street>P\.?[ \t]?O\.?[ \t]?Box[ \t]+\d{1,6}|\d{1,6}[A-Za-z]?[ \t]+[^\W\d_][^\n,]{1,40}?"
    r"|[^\W\d_][^\n,\d]{0,60}?[ \t]\d{1,5}[A-Za-z]?(?:[/-]\d{1,4})?)[ \t]*,[ \t]*"
    # The town: capitalised words, with short lower-case particles ("Paterna del Madera", "Dobrovo v Brdih").
    r"(?P<town>[^\W\d_a-z][^\s,;:!?()\d]*(?:[ \t]+(?:[^\W\d_a-z][^\s,;:!?()\d]*|[a-zà-ÿ]{1,4}))*?)"
    rf",?[ \t]+(?P<post>{_POSTCODE})(?![\w-])"
)
_LINE_LEAD = re.compile(r"[ \t>*?•-]*")
_HOUSE_FIRST = re.compile(r"\d{1,6}[A-Za-z]?(?:[ \t]+\d{1,6}[A-Za-z]?)?[ \t]+(?:[^\W\d_]|\d{1,3}(?:st|nd|rd|th)\b)")
_NUMBER_LAST = re.compile(r"[^\W\d_][^\n\d@:]{1,60}?[ \t]\d{1,5}[A-Za-z]?\.?")
_PO_BOX = re.compile(r"(?:\d{1,6}[ \t]+)?P\.?[ \t]?O\.?[ \t]?Box[ \t]+\d{1,6}", re.IGNORECASE)
_UNIT_LINE = re.compile(r"(?:Suite|Apt\.?|Apartment|Unit|Flat|Floor|Room|Bldg\.?|Building)[ \t]*#?[\w-]{1,6}",
                        re.IGNORECASE)
_TOWN_LINE = re.compile(rf"[^\W\d_][^\n\d@:/|\[\]]{{0,40}}?(?:[ \t]+{_POSTCODE})?")
_POSTCODE_LINE = re.compile(_POSTCODE)


def _lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line's content, without quote markers, bullets or surrounding blanks."""
    out = []
    position = 0
    for line in text.split("\n"):
        start = position + _LINE_LEAD.match(line).end()
        end = position + len(line)
        while end > start and text[end - 1] in " \t\r":
            end -= 1
        out.append((start, end))
        position += len(line) + 1
    return out


# A phone number's shape: ten or more digits, blanks, brackets, dots, dashes, starting and ending with a digit.
# Tried once per run of those characters, from its first digit (a later digit of the run can only end the
# same way), so a long run of digits is read once rather than once per digit.
_PHONE_LIKE = re.compile(r"@|https?:|(?<![\d\s().-])[\s().-]*+\d[\d\s().-]{8,}\d\b")


def _street_line(line: str) -> bool:
    if _PHONE_LIKE.search(line) or len(line.split()) > 8:
        return False  # an e-mail, a link or a phone number
    return bool(_PO_BOX.fullmatch(line) or _HOUSE_FIRST.match(line)
                or (_NUMBER_LAST.fullmatch(line) and len(line.split()) <= 6))


def address_spans(text: str) -> list[tuple[int, int]]:
    """Postal addresses: one-line ones ("Slipager 71, København K, 1429") and the street, town and
    country lines of an address block (a street line with a house number, then town, region, country
    and postcode lines, as on an envelope or a signature). Unit and bare postcode lines are left."""
    found: list[tuple[int, int]] = []
    for m in _ONE_LINE_ADDRESS.finditer(text):
        start = m.start()
        words = list(re.finditer(r"\S+", m.group("street")))
        # The lazy match can start inside the sentence before the street: drop leading dictionary words.
        while len(words) > 2 and words[0].group().lower() in english_words() and not is_street([words[0].group()]):
            words.pop(0)
        start = m.start() + words[0].start()
        found.append((start, m.end()))
    lines = _lines(text)
    i = 0
    while i < len(lines):
        a, b = lines[i]
        if not _street_line(text[a:b]):
            i += 1
            continue
        block, evidence, j, blanks = [(a, b)], is_street(text[a:b].split()), i + 1, 0
        # At most 12 lines down: unit and postcode lines do not grow the block, and a run of thousands
        # of them ("Unit 12" is a street line, too) was read again from every line in it.
        while j < min(len(lines), i + 13) and len(block) < 6:
            c, d = lines[j]
            line = text[c:d]
            if not line:
                blanks += 1
                if blanks > 1:
                    break
            elif _UNIT_LINE.fullmatch(line):
                evidence = True
            elif _POSTCODE_LINE.fullmatch(line):
                evidence = True
            elif _TOWN_LINE.fullmatch(line) and len(line.split()) <= 5:
                block.append((c, d))
                first = re.split(r"[ \t]+\d", line)[0].strip()
                evidence = evidence or bool(re.search(r"\d", line)) or first in place_names()
            else:
                break
            j += 1
        if len(block) > 1 and evidence:
            found += block
        i = j if len(block) > 1 and evidence else i + 1
    for a, b in lines:
        line = text[a:b]
        if _US_LAST_LINE.fullmatch(line):  # "Springfield IL 62701", "Outgaarden VBR 3321"
            found.append((a, b))
        elif (m := _UNIT_THEN_STREET.search(line)) and _street_line(m.group(1)):
            found.append((a + m.start(1), b))  # "... Apt. 220 91427 Main Street 277": the street after the unit
    for m in _ADDRESS_CUE.finditer(text):
        value = _ADDRESS_VALUE.match(text, m.end())
        if value and re.search(r"\d", value.group()) and (len(value.group().split()) > 1):
            found.append((value.start(), value.end()))
    found += [(m.start(), m.end()) for m in _INLINE_STREET.finditer(text)]
    return _merged(found)


# A street in running text, without the town: "3503 Bicetown Road", "221B Baker Street", "Rue de la Paix 12",
# "ul. Zamkowa 33", "Hauptstraße 5".
_STREET_TYPE = (r"(?:Street|St\.?|Road|Rd\.?|Avenue|Ave\.?|Lane|Ln\.?|Drive|Dr\.?|Way|Boulevard|Blvd\.?|Court|Ct\.?"
                r"|Place|Pl\.?|Square|Sq\.?|Terrace|Close|Crescent|Highway|Hwy\.?|Parkway|Pkwy\.?|Plaza|Alley|Row"
                r"|Circle|Grove|Gardens|Walk|Mews)")
_STREET_TOKEN = r"(?:[^\W\d_a-z][\w'’.-]*|\d{1,3}(?:st|nd|rd|th))"
_INLINE_STREET = re.compile(
    rf"(?<![\w.,/-])\d{{1,6}}[A-Za-z]?[ \t]+(?:{_STREET_TOKEN}[ \t]+){{1,4}}{_STREET_TYPE}(?![\w-])"
    rf"|(?<![\w-])(?:Rue|Via|Viale|Calle|Avenida|Av\.|Rua|Piazza|Carrer|Chemin|Allée|Strada|Praça|ul\.|Ulica|Plac)"
    rf"(?:[ \t]+(?:[a-zà-ÿ]{{1,4}}|{_STREET_TOKEN})){{1,5}}?[ \t]+\d{{1,5}}[A-Za-z]?(?![\w-])"
    rf"|(?<![\w-])[^\W\d_a-z][\w'’-]*(?:straße|strasse|straat|steenweg|weg|vej|gade|gatan|vägen|katu|utca|gasse"
    rf"|platz)[ \t]+\d{{1,5}}[A-Za-z]?(?![\w-])"
)


_US_LAST_LINE = re.compile(r"[^\W\d_][^\d\n@:]{1,40}?,?[ \t]+[A-Z]{2,3}[ \t]+\d{4,5}(?:-\d{4})?")
_UNIT_THEN_STREET = re.compile(r"\b(?:Suite|Apt\.?|Unit)[ \t]+#?\w{1,6}[ \t]+(\d{1,6}[ \t]+\S.*)$")
# What follows "my address is", "address:", "lives at", "moved to" up to the end of the clause.
_ADDRESS_CUE = re.compile(r"\b(?:address(?:\s+is|:)|lives?\s+(?:at|on)|living\s+(?:at|on)|located\s+at|moved\s+to"
                          r"|resides?\s+(?:at|on)|deliver(?:ed)?\s+to)\s*", re.IGNORECASE)
_ADDRESS_VALUE = re.compile(r"(?:\d|[^\W\d_a-z])[^\n?!;]{0,80}?(?=\s+(?:street|for|and|but|since|because|from)\b"
                            r"|(?<![A-Z])(?<!\b[^\W\d_])[.?!;](?:\s|$)|[?!;]|$)", re.MULTILINE)


def town_spans(text: str) -> list[tuple[int, int]]:
    """The line right above a line that holds only a country (and perhaps a postcode): the town,
    on a card ("Stephan Urner\n\nBrønderslev\nDenmark"). Weaker than the NER: a name there wins."""
    lines = _lines(text)
    countries = _country_pattern(with_given_names=True)  # "GRASSE\nFrance": a line of its own is a country
    out = []
    for (a, b), (c, d) in zip(lines, lines[1:]):
        line, below = text[a:b], text[c:d]
        m = countries.match(below)
        if (m and re.fullmatch(rf"(?:\s*\([^()\n]{{1,20}}\))?(?:[ \t]+{_POSTCODE})?", below[m.end():])
                and line and len(line.split()) <= 4 and not re.search(r"[\d@]", line)
                and not _FIELD_LABEL.match(line)):  # "Phone:", "Name: ...", not "[[w:Kalisz|Kalisz]"
            out.append((a, b))
    return out


_FIELD_LABEL = re.compile(r"[^\W\d_][\w .'-]{0,30}:(?:\s|$)")


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if out and a < out[-1][1]:
            out[-1] = (out[-1][0], max(b, out[-1][1]))
        else:
            out.append((a, b))
    return out


@lru_cache(maxsize=2)
def _country_pattern(with_given_names: bool = False) -> re.Pattern[str]:
    countries = {c for c in _faker_lists("faker.providers.address", ("countries",))
                 if len(c) >= 4 and c[:1].isupper() and (with_given_names or c not in given_names())}
    alternatives = _grouped_alternation(sorted(countries, key=len, reverse=True))
    # ... and the demonyms made by adding a suffix (Greenlander, Israeli, Kenyan, Iranian, Togolese):
    # where someone is from is personal (GDPR counts ethnic origin as special-category data).
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?:ers?|is?|ns?|ians?|ese)?(?![\w-])")


def _grouped_alternation(words: list[str], depth: int = 2) -> str:
    """``words`` (in order of preference, each longer than ``depth``) as one alternation nested by their
    first characters: ``A(?:f(?:ghanistan)|l(?:bania|geria))|...``. It matches what the flat alternation
    does, as words that begin differently cannot both match at one place, but the engine tries only the
    words that begin like the text there instead of all ~2,000 at each word of it."""
    if depth == 0:
        return "|".join(re.escape(word) for word in words)
    groups: dict[str, list[str]] = {}
    for word in words:
        groups.setdefault(word[0], []).append(word[1:])
    return "|".join(f"{re.escape(head)}(?:{_grouped_alternation(tails, depth - 1)})" for head, tails in groups.items())


def country_spans(text: str) -> list[tuple[int, int]]:
    """Country names as Faker's address providers write them (every locale's language), capitalised whole
    words only, and demonyms formed from them by a suffix; names that are also given names (Jordan, Chad)
    are left to the NER."""
    return [(m.start(), m.end()) for m in _country_pattern().finditer(text)]


# -- organisations ------------------------------------------------------------------------------
_ORG_SUFFIX = (r"(?:Inc\.?|INC\.?|Ltd\.?|LTD\.?|Limited|LIMITED|L\.?L\.?C\.?|LLP|L\.?P\.|[Pp]lc|PLC|SE|AG|GmbH|"
               r"Corp\.?|CORP\.?|Corporation|CORPORATION|Co\.?,?[ \t]?Ltd\.?|CO\.?,?[ \t]?LTD\.?|COMPANYLTD\.?|"
               r"N\.V\.|NV|S\.A\.|SA|S\.p\.A\.|SpA|Oyj|ASA|Bancorp|Bancshares|Holdings|HOLDINGS|Incorporated|"
               r"INCORPORATED|Co\.|CO\.|Company|COMPANY|ETF)")
# Capitalised words, and camel-case brands that start in lower case ("loanDepot", "eServGlobal"), of at
# most 64 characters. The bound and the possessive repeats keep the search linear: a word may start after
# "-" or "/" inside a longer run, and unbounded, every such start rescanned the rest of the run ("A-A-A-...",
# "1/1/1/...": quadratic, minutes at 100,000 characters). A word gives nothing back: blanks follow it.
_ORG_WORD = r"(?:[A-Z0-9][\w&.'’/-]{0,63}+|[a-z]++[A-Z][\w&.'’/-]{0,63}+|&)"
# One to six capitalised words (or '&') on one line, ending in a legal-form or group suffix; or one word
# with the suffix written on ("gremzInc.", "PIOLAXINC.", "WAIDA MFG.CO.LTD."), the stem bounded like a word.
_ORG_NAME = re.compile(rf"(?<![\w&.])(?:{_ORG_WORD}[ \t]+){{1,6}}{_ORG_SUFFIX}(?![\w&])")
_ORG_GLUED = re.compile(rf"(?<![\w&.])(?:{_ORG_WORD}[ \t]+){{0,5}}(?P<stem>[A-Za-z][\w&.-]{{0,62}}?[A-Za-z]\.?)"
                        r"(?:Inc\.|INC\.|Ltd\.|LTD\.|Corp\.|CORP\.|Co\.,?[ \t]?Ltd\.|CO\.,?[ \t]?LTD\.)(?![\w&])")


def organisation_spans(text: str) -> list[tuple[int, int]]:
    """Company names by their legal form: 'Consort Medical plc', 'JAMCO CORPORATION', 'ARDEPRO Co.Ltd.'."""
    out = []
    for m in _ORG_NAME.finditer(text):
        start = m.start()
        words = m.group().split()
        while len(words) > 2 and words[0].lower() in common_words():  # "The", "I", "Our"
            start = text.index(words[1], start + len(words[0]))
            words.pop(0)
        out.append((start, m.end()))
    for m in _ORG_GLUED.finditer(text):
        stem = m.group("stem").rstrip(".")
        if len(stem) >= 3 and not is_english_word(m.group().split()[-1].rstrip(".")):  # not "ZINC."
            out.append((m.start(), m.end()))
    return _merged(out)


# -- places and organisations named after a cue -----------------------------------------------
# Strong cues: a field label ("Where: ...") or "city"/"town" right before the name. Weak cues: moving to
# or coming from somewhere ("arrived at Seyðisfjörður", "returned to Olešnice na Morave", "originally
# from ΛΕΥΚΩΣΙΑ"): there the name must be one no dictionary or name list explains.
_STRONG_PLACE_CUE = re.compile(
    r"(?:^[ \t>*-]*(?:where|location|venue|place|city|town|hometown|birthplace|place of birth)[ \t]*:"
    r"|\b(?:home[ \t]?town|home city|city|town|village|municipality)(?:[ \t]+of)?(?=[ \t]))",
    re.IGNORECASE | re.MULTILINE)
_WEAK_PLACE_CUE = re.compile(
    r"\b(?:(?:arrived?|arrives|arriving|landed|landing|stopped|staying|stayed)[ \t]+(?:at|in)"
    r"|(?:returned|returning|returns?|went|going|goes|moved|moving|moves?|travel(?:l)?ed|travel(?:l)?ing|flew"
    r"|flying|drove|driving|relocated|relocating|headed|heading|trip|flight|sailed|emigrated|commute[sd]?)"
    r"(?:[ \t]+back)?[ \t]+to"
    r"|(?:originally|is|am|are|was|were|comes?|came|hails?|hailed)[ \t]+from|native[ \t]+of|born[ \t]+in"
    r"|(?:lives?|lived|living|based|grew[ \t]+up|settled|resides?|resided)[ \t]+in)(?=[ \t])",
    re.IGNORECASE)
_ORG_CUE = re.compile(
    r"\b(?:works?|worked|working)[ \t]+(?:for|at)|\bemployed[ \t]+(?:by|at)|\bemployer(?:[ \t]+is|[ \t]*:)"
    r"|\bjoined|\bhired[ \t]+by|^[ \t>*-]*(?:company|organi[sz]ation|employer)[ \t]*:",
    re.IGNORECASE | re.MULTILINE)
_PARTICLES = frozenset({"na", "nad", "pod", "u", "v", "de", "del", "della", "di", "da", "do", "dos", "das", "du", "des",
                        "la", "le", "les", "am", "an", "im", "der", "den", "op", "aan", "sur", "sous", "en", "y",
                        "i", "och", "and", "of", "&", "the", "for", "et"})


_BLANKS = re.compile(r"[ \t]*")
_NON_BLANK = re.compile(r"\S+")
_OF = re.compile(r"[ \t]+of[ \t]+")


def _capitalised_run(text: str, start: int, org: bool = False) -> tuple[int, int, list[str]] | None:
    """The capitalised words from ``start`` to the end of the line (short particles between them, as in
    "Olešnice na Morave", "PORT O' WARREN"), without the punctuation after the last one."""
    line_end = text.find("\n", start)
    words: list[tuple[int, int, str]] = []
    # Words read in place (a copy of the rest of the line per cue is quadratic on a long line).
    for m in _NON_BLANK.finditer(text, start, line_end if line_end != -1 else len(text)):
        raw = m.group()
        word = raw.lstrip("\"“(['‘")
        if not re.fullmatch(r"[^\W\d_]{1,2}\.", word):  # keep the dot of "Λ." or "St."
            word = word.rstrip(",.:;!?\"”)]'’")
        if not word:
            break
        a = m.start() + raw.index(word[0])
        capital = word[:1].isupper() or (org and bool(word[:1].isdigit() or re.match(r"[a-z]+[A-Z]", word)))
        if not (capital or (words and word.lower() in _PARTICLES)):
            break
        words.append((a, a + len(word), word))
        if a + len(word) < m.end() or len(words) > 8:
            break  # punctuation after the word ends the name
    while words and words[-1][2].lower() in _PARTICLES:
        words.pop()
    if not words:
        return None
    return words[0][0], words[-1][1], [w for _, _, w in words]


def _unexplained(word: str) -> bool:
    """A word no dictionary, name list or field-word list accounts for."""
    plain = word.strip("'’.")
    return bool(plain) and not (plain in _NOT_NAMES or is_english_word(plain) or plain.lower() in _PARTICLES
                                or plain in given_names() or plain in surnames() or plain.title() in given_names())


def cued_places(text: str) -> list[tuple[int, int, bool]]:
    """(start, end, strong) of places named after a cue (see ``_STRONG_PLACE_CUE``, ``_WEAK_PLACE_CUE``).
    After a weak cue the name must hold a word nothing explains; trailing dictionary words are left
    ("Where: Jyderup Country Club" -> "Jyderup"), and so are names that read as a person's or a company's."""
    out = []
    for cue, strong in ((_STRONG_PLACE_CUE, True), (_WEAK_PLACE_CUE, False)):
        for m in cue.finditer(text):
            start = _BLANKS.match(text, m.end()).end()
            run = _capitalised_run(text, start)
            if run is None:
                continue
            a, b, words = run
            if words[0] in _NOT_NAMES or is_org(words) or looks_like_person(words, [True] * len(words)):
                continue
            unexplained = [i for i, w in enumerate(words) if _unexplained(w)]
            if unexplained:
                last = words[unexplained[-1]]
                b = text.index(last, a + sum(len(w) for w in words[:unexplained[-1]])) + len(last)
            elif not strong or ":" in m.group() or not (len(words) > 1 or words[0].isupper()):
                continue  # "Where: Main Hall" is no place name; "home city PORT O' WARREN" is
            out.append((a, b, strong))
    return out


def card_lines(text: str) -> list[tuple[int, int]]:
    """(start, end) of each line's content (quote markers and bullets left out)."""
    return _lines(text)


def field_label(line: str) -> bool:
    """'Personal Info:', 'Phone:', 'Website: https://...': a field name, perhaps with its value."""
    return line.endswith(":") or bool(_FIELD_LABEL.match(line))


def job_title(line: str) -> bool:
    """'Aeronautical engineer', 'Senior Software Engineer': dictionary words, no company word, no digits."""
    words = re.findall(r"[^\W\d_]+|\d", line)
    return bool(words) and not is_org(line.split()) and all(
        not w.isdigit() and (is_english_word(w) or w.lower() in _PARTICLES) for w in words)


def cued_organisations(text: str) -> list[tuple[int, int]]:
    """Company names after "works for", "employed by", "joined", "Company:": the capitalised words there
    ("I work for BANCO SANTANDER/PFD SH S 6"), unless they read as a person."""
    out = []
    for m in _ORG_CUE.finditer(text):
        start = _BLANKS.match(text, m.end()).end()
        run = _capitalised_run(text, start, org=True)
        if run is None or start == m.end():
            continue
        a, b, words = run
        if words[0] in _NOT_NAMES or words[0].lower() in common_words() and len(words) == 1:
            continue
        if looks_like_person(words, [True] * len(words)):
            continue
        out.append((a, b))
    return out


def org_after(text: str, end: int) -> tuple[int, int, bool] | None:
    """(start, end, is a place) of the capitalised words after a name and "of": "Jonathan Laursen of Canon"."""
    m = _OF.match(text, end)
    if not m:
        return None
    run = _capitalised_run(text, m.end(), org=True)
    if run is None or run[2][0].lower() in common_words():
        return None
    a, b, words = run
    place = " ".join(words) in place_names() or bool(_country_pattern(with_given_names=True).fullmatch(" ".join(words)))
    return a, b, place


def warm_up() -> None:
    """Load every list this module uses (about a second, once per process)."""
    given_names(), surnames(), place_names(), english_words(), common_words(), stop_words(), _country_pattern()
    _country_pattern(with_given_names=True)


def introduced(text: str, start: int) -> bool:
    return bool(_INTRO.search(text[max(0, start - 20):start]))


def is_field_word(value: str) -> bool:
    """'Phone', 'Name', 'June': words the NER sometimes calls a person."""
    return value in _NOT_NAMES


_POSTCODE_PART = re.compile(r"\s*[A-Z]{0,3}\d[\w -]*\s*[.)]?\s*")


def in_address_line(text: str, start: int, end: int) -> bool:
    """'262 Pavlou Drandaki, Limassol, 3012': a line of comma-separated parts ending in a postcode.
    Only the last two commas of the line are read (the line is not copied: one copy per name on a
    100,000-character line is quadratic)."""
    line_start = text.rfind("\n", 0, start) + 1
    line_end = text.find("\n", end)
    line_end = line_end if line_end != -1 else len(text)
    last = text.rfind(",", line_start, line_end)
    before = text.rfind(",", line_start, last) if last > line_start else -1
    # Something between the two commas, no line break, and a postcode-like last part.
    return (before != -1 and last - before > 1 and text.find("\n", before, last) == -1
            and bool(_POSTCODE_PART.fullmatch(text, last + 1, line_end)))


def name_line(text: str, start: int, end: int, words: list[str]) -> bool:
    """A line holding only two or three capitalised words, heading a block that carries contact data:
    the name on a signature or contact card."""
    if not 2 <= len(words) <= 3 or start >= end:
        return False
    # The line is the span once quote markers, bullets and blanks are stripped from both ends; read
    # outwards from the span over those characters only, not the whole line.
    line_start = _line_lead_start(text, start)
    line_end = end
    while line_end < len(text) and text[line_end] in _LINE_LEAD_CHARS:
        line_end += 1
    if (line_start is None or (line_end < len(text) and text[line_end] != "\n")
            or text[start] in _LINE_LEAD_CHARS or text[end - 1] in _LINE_LEAD_CHARS):
        return False
    several = line_start > 0 or line_end < len(text) or "\n" in text[start:end]  # the text has a line break
    return several and bool(re.search(r"@|\d{3}[\s.)-]*\d{3}", text[end:end + 200]))


def line_initial(text: str, start: int) -> bool:
    """At the start of a line or sentence, capitalisation says nothing about a word."""
    i = start  # read back over blanks, quote markers and bullets only (a copy of the text before is quadratic)
    while i > 0 and text[i - 1] in _LINE_LEAD_CHARS:
        i -= 1
    return i == 0 or text[i - 1] in "\n.!?:\"'"


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
