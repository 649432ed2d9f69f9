"""``pii``: find personal data in text: Presidio's pattern and checksum recognisers plus spaCy NER.

What finds what:
- e-mail, phone (libphonenumber), credit card (Luhn), IBAN (checksum), IP, US SSN: Presidio recognisers;
- SSN-like IDs (NNN-NN-NNNN) that fail the strict SSN rules: a lower-confidence pattern, boosted by context;
- names, locations, organisations: spaCy en_core_web_sm through Presidio's NER recogniser;
- dates of birth: a date (pattern or NER) with "born", "birth", "DOB", "birthday" shortly before it;
- other full calendar dates (day, month and year: "10/19/1972", "1980-05-14", "June 3, 1956"), with a
  time if one follows: DATE. HIPAA's Safe Harbor counts every date tied to a person as an identifier,
  and a text rarely says which dates are; a year, a month or a weekday alone is not reported. Leave
  DATE out of ``types`` where dates must reach the model.

Spans never overlap: where a pattern and the NER disagree the pattern wins (an
e-mail address is not a person), and a name found once is found wherever it
recurs in the same text, so redaction is consistent.
"""

from __future__ import annotations

import copy
import re
import threading
from bisect import bisect_left, bisect_right, insort
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import accumulate
from typing import Any

from slmkit.errors import InvalidInputError
from slmkit.models.spacy_nlp import get_nlp, model_dir, ner_doc, with_fine_tags
from slmkit.skills.base import clean
from slmkit.skills.pii import formal, names
from slmkit.skills.pii.types import PII_TYPES, PiiSpan
from slmkit.text import unbatch

_FROM_PRESIDIO = {
    "PERSON": "PERSON", "LOCATION": "LOCATION", "ORGANIZATION": "ORGANIZATION", "EMAIL_ADDRESS": "EMAIL",
    "PHONE_NUMBER": "PHONE", "CREDIT_CARD": "CREDIT_CARD", "IBAN_CODE": "IBAN", "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "SSN", "SSN_LIKE": "SSN", "DATE_TIME": "DATE_TIME",
}
_NER_TYPES = frozenset({"PERSON", "LOCATION", "ORGANIZATION"})
# One token of capitalised parts run together: "GetWeather", "AddToPlaylist", "UserAccountManager".
_CAMEL = re.compile(r"[A-Z][a-z]+(?:[A-Z][a-z]+)+")
_CAMEL_PART = re.compile(r"[A-Z][a-z]+")
# spaCy's small model tags these field names as organisations; they are labels, not data.
_NOT_ENTITIES = frozenset({
    "IBAN", "SSN", "DOB", "CVV", "CVC", "PIN", "ID", "IP", "ATM", "CC", "URL", "SWIFT", "BIC", "SMS", "ZIP",
    "E-MAIL", "EMAIL", "NI", "VAT", "OTP", "PO", "P.O.", "FAQ",
})
# The birth word must be in the same sentence: "born 3 March 1961. It's like that since 10/19/1972".
_BIRTH_CONTEXT = re.compile(r"\b(born|birth|birthday|b-?day|dob|d\.o\.b)\b\.?[^.!?\n]{0,40}$", re.IGNORECASE)
_SSN_LIKE = r"\b\d{3}[- ]\d{2}[- ]\d{4}\b"
# Card numbers Presidio's regex misses (Mastercard 2-series, 12-digit Maestro, JCB 2131...): any
# 12-19 digits, optionally grouped, that pass Luhn. Short ones need a card word nearby.
_CARD_LONG = r"(?<![+\w])\d(?:[ -]?\d){15,18}\b"
_CARD_SHORT = r"(?<![+\w])\d(?:[ -]?\d){11,14}\b"
_EXT = r"(?:\s?(?:x|ext\.?)\s?\d{1,6})?"
_PHONE_SHAPES = (
    ("nanp", r"(?<![\w+])(?:\+1[-. ]?|001[-. ]?)?(?:\(\d{3}\)\s?|\d{3}[-.])\d{3}[-.]\d{4}(?!\d)" + _EXT, 0.5),
    ("international", r"(?<![\w+])\+\d{1,3}[-. ]?\(?\d{1,4}\)?(?:[-. ]?\d{2,4}){2,4}(?!\d)" + _EXT, 0.5),
    ("trunk-0", r"(?<![\w+])\(0\d{2,4}\)\s?\d{3,4}[ -]?\d{3,4}\b|(?<![\w+])0\d{2,4}[ -]\d{3,4}[ -]?\d{3,4}\b", 0.45),
    ("bare-digits", r"(?<![\w+])\d{10,11}\b", 0.2),  # only with a phone word nearby
)
_MONTH = (r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
          r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?")
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]\d\d|20\d\d)"
_TIME = r"(?:(?:,?\s+(?:at\s+)?|T)\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:\s?[ap]\.?m\.?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
# A day, a month and a year, in the orders people write them; numbers must be plausible as both.
_FULL_DATE = re.compile(
    rf"(?<![\w/.-])(?:{_MONTH}\s+{_DAY},?\s+{_YEAR}|{_DAY}(?:\s+of)?\s+{_MONTH},?\s+{_YEAR}"
    rf"|{_DAY}-{_MONTH}-(?:{_YEAR}|\d\d)"
    rf"|(?P<iso>{_YEAR})(?P<isep>[-/.])(?P<im>\d{{1,2}})(?P=isep)(?P<id>\d{{1,2}})"
    rf"|(?P<a>\d{{1,2}})(?P<sep>[-/.])(?P<b>\d{{1,2}})(?P=sep)(?P<y>{_YEAR}|\d\d))"
    rf"{_TIME}(?![\w/-]|\.\d)",
    re.IGNORECASE,
)
_CARD_CONTEXT = ["card", "cc", "credit", "debit", "visa", "mastercard", "amex", "maestro", "payment"]


def _full_dates(text: str) -> list[tuple[int, int]]:
    """Spans of full calendar dates (see ``_FULL_DATE``), checked for a real month and day."""
    out = []
    for m in _FULL_DATE.finditer(text):
        if m.group("iso") and not (1 <= int(m.group("im")) <= 12 and 1 <= int(m.group("id")) <= 31):
            continue
        if m.group("a"):
            a, b = int(m.group("a")), int(m.group("b"))
            if not ((1 <= a <= 12 and 1 <= b <= 31) or (1 <= b <= 12 and 1 <= a <= 31)):
                continue
            if len(m.group("y")) == 2 and m.group("sep") != "/":  # 1.2.24 or 4-5-24: versions, ranges
                continue
        out.append((m.start(), m.end()))
    return out




@lru_cache(maxsize=1)
def _domain_extractor() -> Any:
    """tldextract fetches the suffix list over the network on first use; this one uses the snapshot
    bundled with it."""
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)


def _valid_domain(domain: str) -> bool:
    """A host name that ends in a known public suffix ("acme.com", "mail.example.co.uk")."""
    return _domain_extractor()(domain).fqdn != ""


def _offline_email_recognizer() -> Any:
    """Presidio's e-mail recogniser, checking the domain offline (``_valid_domain``)."""
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    class OfflineEmailRecognizer(EmailRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            # The domain alone: tldextract reads "path/anna@example.com" as a URL whose host is "path".
            return _valid_domain(pattern_text.rpartition("@")[2])

    return OfflineEmailRecognizer()


def _luhn(number: str) -> bool:
    digits = [int(c) for c in number if c.isdigit()]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d > 4 else d * 2) for i, d in enumerate(reversed(digits)))
    return total % 10 == 0


def _luhn_card_recognizer() -> Any:
    from presidio_analyzer import Pattern, PatternRecognizer

    class LuhnCardRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool:
            return _luhn(pattern_text)

    return LuhnCardRecognizer(
        supported_entity="CREDIT_CARD", name="LuhnCardRecognizer", context=_CARD_CONTEXT,
        patterns=[Pattern("luhn-16-19", _CARD_LONG, 0.5), Pattern("luhn-12-15", _CARD_SHORT, 0.3)],
    )


def _phone_shape_recognizer() -> Any:
    """Numbers written the way phone numbers are written. libphonenumber (above) only accepts
    numbers valid for a region's plan; an unassigned or made-up number is still someone's data
    to hide, and extensions ("x204") belong to the number."""
    from presidio_analyzer import Pattern, PatternRecognizer

    return PatternRecognizer(
        supported_entity="PHONE_NUMBER", name="PhoneShapeRecognizer",
        context=["phone", "tel", "telephone", "call", "mobile", "cell", "fax", "office", "number", "registered",
                 "reach", "contact", "text", "sms", "whatsapp", "message", "messages", "texts", "dial", "ring"],
        patterns=[Pattern(name, regex, score) for name, regex, score in _PHONE_SHAPES],
    )


# Where libphonenumber may find a number: a group of digits (at least 4, each within 6 characters of the
# next: blanks, brackets, dashes, dots, "ext."), with room before it for a "+" or "(" and the character the
# matcher checks, and after it for a spelled-out extension. Rare digits ("b", "p") give no region.
_DIGIT_GROUP = re.compile(r"\d(?:\D{0,6}\d)*")
_PHONE_BEFORE, _PHONE_AFTER, _PHONE_MIN_DIGITS = 10, 30, 4


def _phone_regions(text: str) -> list[tuple[int, int]]:
    """(start, end) of the parts of ``text`` that hold phone-number candidates, merged where they overlap."""
    regions: list[tuple[int, int]] = []
    for m in _DIGIT_GROUP.finditer(text):
        if sum(c.isdigit() for c in m.group()) < _PHONE_MIN_DIGITS:
            continue
        a, b = max(0, m.start() - _PHONE_BEFORE), min(len(text), m.end() + _PHONE_AFTER)
        if regions and a <= regions[-1][1]:
            regions[-1] = (regions[-1][0], b)
        else:
            regions.append((a, b))
    return regions


def _regional_phone_recognizer() -> Any:
    """Presidio's libphonenumber recogniser, run on the parts of the text that hold digits only: it scans
    the whole text once per region (11), 0.4-0.7 s on 100,000 characters of prose or random text."""
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    class RegionalPhoneRecognizer(PhoneRecognizer):
        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
            results = []
            for a, b in _phone_regions(text):
                for result in super().analyze(text[a:b], entities, nlp_artifacts):
                    result.start += a
                    result.end += a
                    results.append(result)
            return results

    return RegionalPhoneRecognizer(supported_regions=("US", "GB", "DE", "FR", "IE", "CA", "AU", "IN", "NL", "ES", "IT"))


def _build_analyzer(nlp: Any) -> tuple[Any, Any]:
    from presidio_analyzer import AnalyzerEngine, Pattern, PatternRecognizer, RecognizerRegistry
    from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        DateRecognizer,
        IbanRecognizer,
        IpRecognizer,
        SpacyRecognizer,
        UsSsnRecognizer,
    )

    class ChunkedSpacyNlpEngine(SpacyNlpEngine):
        """Presidio's spaCy engine, reading the text through ``ner_doc``; the analyzer gets the original."""

        def process_text(self, text: str, language: str) -> Any:
            return self._doc_to_nlp_artifact(ner_doc(self.nlp[language], text), language)

        def process_batch(self, texts: Iterable[str], language: str, **_: Any) -> Iterable[tuple[str, Any]]:
            for text in texts:
                yield text, self.process_text(text, language)

        def _doc_to_nlp_artifact(self, doc: Any, language: str) -> Any:
            # Context words are matched against the lemmas as substrings ("card" in "cards"). The pipeline
            # runs no lemmatizer (it needs the tagger, half the cost of the spaCy pass: models/spacy_nlp.py),
            # so the lower-cased word stands in: it holds its lemma whenever the inflection is regular,
            # and the recognisers' context words are nouns and regular verbs ("call" in "called").
            # Read from the Doc's arrays: a Token object per token, and Presidio's vocabulary lookup per
            # keyword, cost 0.3 s on 100,000 characters.
            from spacy.attrs import IDX, IS_PUNCT, IS_STOP, LOWER

            entities, scores = self._get_updated_entities(self._get_entities(doc), self._get_scores_for_entities(doc))
            rows = doc.to_array([IDX, LOWER, IS_STOP, IS_PUNCT]).tolist() if len(doc) else []
            strings = doc.vocab.strings
            lemmas = [strings[row[1]] for row in rows]
            artifacts = NlpArtifacts(entities=entities, tokens=doc, tokens_indices=[row[0] for row in rows],
                                     lemmas=lemmas, nlp_engine=None, language=language, scores=scores)
            # Presidio's keywords (``NlpArtifacts.set_keywords``): no stop word, punctuation or "be" (its
            # "-PRON-" is a lemma, never a lower-cased word), split at ":".
            artifacts.nlp_engine = self
            artifacts.keywords = [part for lemma, row in zip(lemmas, rows, strict=True)
                                  if not row[2] and not row[3] and lemma != "be"
                                  for part in lemma.split(":")]
            return artifacts

    engine = ChunkedSpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": str(model_dir())}],
        ner_model_configuration=NerModelConfiguration(
            labels_to_ignore=["CARDINAL", "ORDINAL", "QUANTITY", "MONEY", "PERCENT", "PRODUCT", "EVENT",
                              "WORK_OF_ART", "LAW", "LANGUAGE", "FAC", "NORP"],
        ),
    )
    engine.nlp = {"en": nlp}  # share the crew's loaded pipeline instead of loading a second copy
    registry = RecognizerRegistry(supported_languages=["en"])
    for recognizer in (
        SpacyRecognizer(supported_entities=["PERSON", "LOCATION", "ORGANIZATION", "DATE_TIME"]),
        _offline_email_recognizer(),
        _regional_phone_recognizer(),
        _phone_shape_recognizer(),
        CreditCardRecognizer(),
        _luhn_card_recognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        UsSsnRecognizer(),
        DateRecognizer(),
        PatternRecognizer(
            supported_entity="SSN_LIKE", name="SsnLikeRecognizer",
            patterns=[Pattern("ssn-like", _SSN_LIKE, 0.3)],
            context=["ssn", "social", "security", "national", "insurance", "id", "identification"],
        ),
    ):
        registry.add_recognizer(recognizer)
    analyzer = AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"],
                              context_aware_enhancer=_indexed_context_enhancer())
    return analyzer, engine


def _indexed_context_enhancer() -> Any:
    """Presidio's lemma context enhancer (same words, same scores) with its two scans replaced by lookups:
    it finds a match's token by walking every token from the first, and the context words around it by
    walking the lemmas with a membership test on a list, for every match. That is quadratic in the text:
    100,000 characters of "a@b.co " (14,000 addresses) took 26 s of CPU, most of it there."""
    from presidio_analyzer import RecognizerResult
    from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer, LemmaContextAwareEnhancer

    class IndexedContextEnhancer(LemmaContextAwareEnhancer):
        def __init__(self) -> None:
            super().__init__()
            # The keyword positions of the text being analysed, per thread: (lemmas, keywords, positions,
            # lower-cased lemmas at those positions), built on the first ask and dropped when it is done.
            self._local = threading.local()

        def enhance_using_context(self, text: str, raw_results: list[Any], nlp_artifacts: Any,
                                  recognizers: list[Any], context: list[str] | None = None) -> list[Any]:
            # The base's steps and scores, but it deep-copies every result before it looks at one (0.1 ms
            # each: a second for 10,000 e-mail addresses); here only a result whose score rises is copied.
            by_id = {recognizer.id: recognizer for recognizer in recognizers}
            extra = [word.lower() for word in context or ()]
            out = []
            try:
                for result in raw_results:
                    meta = result.recognition_metadata or {}
                    recognizer = by_id.get(meta.get(RecognizerResult.RECOGNIZER_IDENTIFIER_KEY))
                    if (nlp_artifacts is None or not (recognizer and recognizer.context)
                            or meta.get(RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY)):
                        out.append(result)
                        continue
                    words = self._extract_surrounding_words(nlp_artifacts, text[result.start:result.end],
                                                            result.start) + extra
                    supportive = self._find_supportive_word_in_context(words, recognizer.context,
                                                                       self.context_matching_mode)
                    if supportive:
                        result = copy.copy(result)
                        result.analysis_explanation = copy.copy(result.analysis_explanation)
                        result.score = min(max(result.score + self.context_similarity_factor,
                                               self.min_score_with_context_similarity), ContextAwareEnhancer.MAX_SCORE)
                        result.analysis_explanation.set_supportive_context_word(supportive)
                        result.analysis_explanation.set_improved_score(result.score)
                    out.append(result)
            finally:
                self._local.keywords = None
            return out

        @staticmethod
        def _find_index_of_match_token(word: str, start: int, tokens: Any, tokens_indices: list[int]) -> int:
            # The first token that ends after ``start``: the last one starting at or before it, or the next
            # one when ``start`` falls in the whitespace after it.
            i = bisect_right(tokens_indices, start) - 1
            if i >= 0 and start >= tokens_indices[i] + len(tokens[i]):
                i += 1
            i = max(i, 0)
            if i >= len(tokens_indices):
                raise ValueError(f"Did not find word '{word}' in the list of tokens "
                                 "although it is expected to be found")
            return i

        def _add_n_words(self, index: int, n_words: int, lemmas: list[str], lemmatized_filtered_keywords: list[str],
                         is_backward: bool) -> list[str]:
            positions, words = self._keywords(lemmas, lemmatized_filtered_keywords)
            if is_backward:  # the n + 1 keywords at or before index, nearest first
                k = bisect_right(positions, index)
                return words[max(0, k - n_words - 1):k][::-1]
            k = bisect_left(positions, index)
            return words[k:k + n_words + 1]

        def _keywords(self, lemmas: list[str], keywords: list[str]) -> tuple[list[int], list[str]]:
            cached = getattr(self._local, "keywords", None)
            if cached is None or cached[0] is not lemmas or cached[1] is not keywords:
                wanted = set(keywords)
                positions = [i for i, lemma in enumerate(lemmas) if lemma.lower() in wanted]
                cached = (lemmas, keywords, positions, [lemmas[i].lower() for i in positions])
                self._local.keywords = cached
            return cached[2], cached[3]

    return IndexedContextEnhancer()


class Pii:
    """Detect personal data; ``types`` limits what is reported, ``threshold`` the recogniser confidence."""

    name = "pii"

    def __init__(self, types: Iterable[str] | None = None, threshold: float = 0.4) -> None:
        wanted = tuple(types) if types is not None else PII_TYPES
        unknown = set(wanted) - set(PII_TYPES)
        if unknown:
            raise InvalidInputError(f"unknown PII type(s) {sorted(unknown)}; known: {', '.join(PII_TYPES)}")
        if not 0.0 <= threshold <= 1.0:
            raise InvalidInputError("threshold is a confidence between 0 and 1")
        self.types = frozenset(wanted)
        self.threshold = threshold
        self._analyzer: Any = None
        self._engine: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> Pii:
        with self._lock:
            if self._analyzer is None:
                self._analyzer, self._engine = _build_analyzer(get_nlp())
                names.warm_up()  # the name, place and word lists: load them now, not on the first request
        return self

    def spans(self, text: str, artifacts: Any = None) -> list[PiiSpan]:
        self.warm_up()
        if artifacts is None:
            artifacts = self._engine.process_text(text, "en")
        found = []
        for r in self._analyzer.analyze(text, language="en", nlp_artifacts=artifacts, score_threshold=self.threshold):
            kind = _FROM_PRESIDIO.get(r.entity_type)
            if kind in _NER_TYPES:
                found.extend(_ner_spans(text, r.start, r.end, kind, r.score))
            elif kind == "DATE_TIME":
                if _BIRTH_CONTEXT.search(text[max(0, r.start - 60):r.start]):
                    found.append(PiiSpan("DATE_OF_BIRTH", text[r.start:r.end], r.start, r.end, r.score, "pattern"))
            elif kind is not None:
                found.append(PiiSpan(kind, text[r.start:r.end], r.start, r.end, r.score, "pattern"))
        for start, end in _full_dates(text):
            kind = "DATE_OF_BIRTH" if _BIRTH_CONTEXT.search(text[max(0, start - 60):start]) else "DATE"
            found.append(PiiSpan(kind, text[start:end], start, end, 0.6, "pattern"))
        found += [PiiSpan("EMAIL", text[a:b], a, b, 0.5, "pattern")
                  for a, b in formal.written_emails(text, _valid_domain)]
        found += [PiiSpan("PERSON", text[a:b], a, b, 0.6, "pattern") for a, b in formal.signatory_names(text)]
        found += _places(text)
        found = _retyped(text, found)
        found += _names_ner_missed(text, artifacts.tokens, found)
        found = _without_defined_terms(text, found)
        found = [s for s in found if not (s.type in _NER_TYPES and is_identifier(s.text))]
        chosen = _without_overlaps(found)
        chosen = _without_overlaps(chosen + _organisations_by_position(text, chosen))
        chosen = _with_repeats(text, chosen)
        return [s for s in chosen if s.type in self.types]

    def __call__(self, items: object) -> list[PiiSpan] | list[list[PiiSpan]]:
        batch, single = clean(items)
        self.warm_up()
        results = [self.spans(text, artifacts) for text, artifacts in self._engine.process_batch(batch, "en")]
        return unbatch(results, single)


def _places(text: str) -> list[PiiSpan]:
    """Postal addresses and company names by legal form (patterns: they beat the NER where they overlap),
    country names and the town line above a country line (a list: the NER wins where it saw something
    else, as in a person called Georgia)."""
    spans = [PiiSpan("LOCATION", text[a:b], a, b, 0.55, "pattern") for a, b in names.address_spans(text)]
    spans += [PiiSpan("ORGANIZATION", text[a:b], a, b, 0.5, "pattern") for a, b in names.organisation_spans(text)
              if not formal.generic_legal_form(text[a:b].split())]
    listed = names.country_spans(text) + names.town_spans(text)
    spans += [PiiSpan("LOCATION", text[a:b], a, b, 0.5, "list") for a, b in listed]
    # A place after "Where:" or "home city" beats the NER (which calls "Where: Jyderup Country Club" a
    # company); after "arrived at" or "originally from" it only fills what the NER left.
    spans += [PiiSpan("LOCATION", text[a:b], a, b, 0.45, "pattern" if strong else "context")
              for a, b, strong in names.cued_places(text)]
    spans += [PiiSpan("ORGANIZATION", text[a:b], a, b, 0.45, "context") for a, b in names.cued_organisations(text)]
    return spans


def is_identifier(value: str) -> bool:
    """A label or code name written as one CamelCase token ("GetWeather", "SearchScreeningEvent"), which the NER
    takes for a person or a company: every part a dictionary word, or two run together ("Playlist": play +
    list, newer than the dictionary), and at most one part a listed given name or surname ("Add" is one).
    Names run together keep a part no dictionary knows ("McDonald", "DeShawn", "MacArthur", "VanDerBeek") or
    two listed name parts ("JohnSmith", "BillGates", a user name). Why it matters: an app's labels (intents,
    classes) would be masked as people wherever text is redacted, distillation's captures included."""
    if not _CAMEL.fullmatch(value):
        return False
    parts = _CAMEL_PART.findall(value)
    if sum(p in names.given_names() or p in names.surnames() for p in parts) >= 2:
        return False
    return all(_word_or_compound(part.lower()) for part in parts)


def _word_or_compound(word: str) -> bool:
    return names.is_english_word(word) or any(
        names.is_english_word(word[:i]) and names.is_english_word(word[i:]) for i in range(3, len(word) - 2))


def _without_defined_terms(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """The NER's people, places and organisations less the capitalised terms of a formal document
    ("the Borrower", "each Lender", "Confidential Information shall": ``formal.is_defined_term``)."""
    terms = formal.defined_terms(text)
    return [s for s in spans if not (s.source == "ner" and s.type in _NER_TYPES
                                     and formal.is_defined_term(text, s.start, s.end, terms, s.type))]


def _organisations_by_position(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """Organisations known by where they stand, in what nothing else covers:
    - "<person> of <capitalised words>": "Jonathan Laursen of Canon" (a place name there is a location);
    - the company line of a signature or contact card: in a block that starts with a person's name line
      and goes on to address, phone or e-mail lines, a line between the two that is no field label
      ("Personal Info:") and no job title (dictionary words only, no company word: "Aeronautical engineer")."""
    taken = _Taken(spans)  # the spans, and what this adds: a lookup, not a scan of them all per question
    out: list[PiiSpan] = []

    def add(kind: str, a: int, b: int) -> None:
        if not taken.overlaps(a, b):
            taken.add(a, b)
            out.append(PiiSpan(kind, text[a:b], a, b, 0.45, "context"))

    for span in spans:
        if span.type == "PERSON" and (where := names.org_after(text, span.end)):
            a, b, place = where
            add("LOCATION" if place else "ORGANIZATION", a, b)
    if "\n" not in text:
        return out  # the company line of a card needs lines
    lines = names.card_lines(text)

    def kinds_on(a: int, b: int) -> set[str]:
        return {s.type for s in taken.overlapping(a, b)}

    def sentence(line: str) -> bool:  # prose, not a company: "The Zorblax build failed again."
        return len(line.split()) >= 4 and line[-1:] in ".!?" and bool(re.search(r"\s[a-z]{2,}\s", line))

    for i, (a, b) in enumerate(lines):
        person = sum(min(b, s.end) - max(a, s.start) for s in taken.overlapping(a, b) if s.type == "PERSON")
        if not person or person * 2 < b - a:  # a line that is mostly a person's name
            continue
        between: list[tuple[int, int]] = []
        for c, d in lines[i + 1:i + 6]:
            kinds = kinds_on(c, d)
            if kinds & {"LOCATION", "PHONE", "EMAIL"}:
                for x, y in between:
                    add("ORGANIZATION", x, y)
                break
            if c == d or kinds:
                continue  # a blank line, the name again, or something already found
            line = text[c:d]
            if names.field_label(line) or names.job_title(line) or sentence(line) or len(line.split()) > 14:
                continue
            between.append((c, d))
    return out


def _ner_spans(text: str, start: int, end: int, kind: str, score: float) -> list[PiiSpan]:
    """An NER span, split at line breaks (a name line and the company line below are two things)."""
    out = []
    for i, piece in enumerate(re.finditer(r"[^\n]+", text[start:end])):
        a, b = _trim(text, start + piece.start(), start + piece.end())
        value = text[a:b]
        # Past a line break the NER has usually run on into a job title or a field label.
        if b <= a or value.upper() in _NOT_ENTITIES or names.is_field_word(value) or (i and len(value.split()) < 2):
            continue
        out.append(PiiSpan(kind, value, a, b, score, "ner"))
    return out


def _retyped(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """Street names are locations; a name the NER called an organisation or place is a person when
    it starts with a known given name or follows words that introduce a name; an organisation is,
    too, when its words are listed names or words no dictionary or place list knows
    (``names.person_not_org``)."""
    out = []
    for span in spans:
        if span.source != "ner":
            out.append(span)
            continue
        words = names.without_units(span.text.split())
        if words and len(words) < len(span.text.split()):  # drop "Suite"/"Apt" from the end
            end = span.start + span.text.rindex(words[-1]) + len(words[-1])
            span = PiiSpan(span.type, text[span.start:end], span.start, end, span.score, "ner")
        if (skip := names.leading_noise(words)):  # drop "Call"/"Dear" from the front
            words = words[skip:]
            start = span.start + span.text.index(words[0])
            span = PiiSpan(span.type, text[start:span.end], start, span.end, span.score, "ner")
        kind = span.type
        if (names.is_street(words) or names.house_numbered(text, span.start, span.end)
                or (kind == "PERSON" and names.in_address_line(text, span.start, span.end))):
            kind = "LOCATION"
        elif kind != "PERSON" and not names.is_org(words) and (
            names.introduced(text, span.start) or names.name_line(text, span.start, span.end, words)
            or ((len(words) > 1 or kind == "ORGANIZATION") and names.looks_like_person(words, [True] * len(words)))
            or names.person_not_org(words, kind)
        ):
            kind = "PERSON"
        out.append(PiiSpan(kind, span.text, span.start, span.end, span.score, "ner"))
    return out


def _names_ner_missed(text: str, doc: Any, found: list[PiiSpan]) -> list[PiiSpan]:
    """Runs of proper nouns the NER left alone, kept when they start with a known given name
    (not as a lone word opening a line, where capitals are the rule) or follow words that introduce a name,
    or when no dictionary explains their capitals (see ``names.name_by_capitals``: a person, or after
    "in"/"at"/"city", a place)."""
    taken = _Taken(found)
    runs = [run for run in names.proper_noun_runs(doc, text) if not taken.overlaps(run[0], run[1])]

    def decide(run: tuple[int, int, list[str], list[Any]]) -> PiiSpan | None:
        start, end, words, tokens = run
        if (names.is_org(words) or names.is_street(words) or names.house_numbered(text, start, end)
                or names.in_address_line(text, start, end)):
            return None
        known = (names.looks_like_person(words, [True] * len(words))
                 and (len(words) > 1 or not names.line_initial(text, start)) and names.tagged_proper(tokens))
        if known or ((names.introduced(text, start) or names.name_line(text, start, end, words)) and len(words) <= 3):
            return PiiSpan("PERSON", text[start:end], start, end, 0.6, "ner")
        if (where := names.name_by_capitals(text, tokens)) is not None:
            return PiiSpan("PERSON", text[where[0]:where[1]], where[0], where[1], 0.5, "ner")
        if (where := names.place_by_capitals(text, tokens)) is not None:
            return PiiSpan("LOCATION", text[where[0]:where[1]], where[0], where[1], 0.5, "ner")
        return None

    # The few runs whose verdict needs a part-of-speech tag get it from one batched tagging pass.
    return [span for span in with_fine_tags(doc, runs, decide) if span is not None]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """NER spans sometimes swallow punctuation or a leading field name ("Email John"): keep the words."""
    while start < end and not text[start].isalnum():
        start += 1
    while end > start and not text[end - 1].isalnum() and text[end - 1] != ".":
        end -= 1
    if text[start:end].endswith(("'s", "’s")):
        end -= 2
    return start, end


def _without_overlaps(spans: Sequence[PiiSpan]) -> list[PiiSpan]:
    """Patterns beat NER, then higher score, then longer span."""
    ranked = sorted(spans, key=lambda s: (s.source == "pattern", s.score, s.end - s.start), reverse=True)
    taken = _Taken()
    kept: list[PiiSpan] = []
    for span in ranked:
        if not taken.overlaps(span.start, span.end):
            taken.add(span.start, span.end)
            kept.append(span)
    return sorted(kept, key=lambda s: s.start)


def _repeat_values(span: PiiSpan) -> list[str]:
    """The span's text and, for a person, each part of the name ("Csenger" after "Csenger Gábor"); for an
    address, its town ("I am in Lostorf" after "Betburweg 93, Lostorf, 4654")."""
    if span.type == "PERSON":
        return [span.text] + [w for w in span.text.split() if len(w) > 2 and w[:1].isupper()]
    if span.type == "LOCATION":
        parts = (p.strip() for p in span.text.split(",")[1:-1])
        return [span.text] + [p for p in parts if len(p) > 3 and p[:1].isalpha()]
    return [span.text]


def _with_repeats(text: str, spans: list[PiiSpan]) -> list[PiiSpan]:
    """A value found once is personal data wherever it recurs in the same text. Occurrences come from one
    index of the text's words (``_Occurrences``) and are checked against an index of the spans so far
    (``_Taken``): a scan of the text per value, and of every span per occurrence, made this cubic
    ("Mr Smith met Dr Jones. " repeated: minutes at 10,000 characters)."""
    taken = _Taken(spans)
    occurrences = _Occurrences(text)
    extra: list[PiiSpan] = []
    seen: set[str] = set()
    for span in spans:
        if span.type not in _NER_TYPES or len(span.text) < 3:
            continue
        for value in _repeat_values(span):
            # A value met again adds nothing: each of its occurrences was taken then, or overlaps what was.
            if value in seen:
                continue
            seen.add(value)
            for start in occurrences.of(value):
                end = start + len(value)
                if not taken.overlaps(start, end):
                    taken.add(start, end)
                    extra.append(PiiSpan(span.type, value, start, end, span.score, "repeat"))
    return sorted([*spans, *extra], key=lambda s: s.start)


class _Taken:
    """Where spans lie, to ask whether start-end overlaps any of them by bisection instead of a scan of
    every span (100,000 characters can hold 15,000 spans). The spans given at first may overlap each
    other; a span added later must overlap none of those taken before it (``overlaps`` said so)."""

    def __init__(self, spans: Iterable[PiiSpan] = ()) -> None:
        self._fixed = sorted(spans, key=lambda s: (s.start, s.end))
        self._starts = [s.start for s in self._fixed]
        self._reach = list(accumulate((s.end for s in self._fixed), max))  # furthest end so far
        self._added: list[tuple[int, int]] = []  # disjoint: sorted by start, their ends are sorted too

    def overlapping(self, start: int, end: int) -> list[PiiSpan]:
        """The spans given at first that overlap start-end, in order."""
        lo = bisect_right(self._reach, start)  # every span before lo ends at or before start
        hi = bisect_left(self._starts, end)  # every span from hi on starts at or after end
        return [s for s in self._fixed[lo:hi] if s.end > start]

    def overlaps(self, start: int, end: int) -> bool:
        hi = bisect_left(self._starts, end)
        if hi and self._reach[hi - 1] > start:
            return True
        hi = bisect_left(self._added, end, key=lambda a: a[0])
        return hi > 0 and self._added[hi - 1][1] > start

    def add(self, start: int, end: int) -> None:
        insort(self._added, (start, end))


_WORD = re.compile(r"\w+")
_WORD_CHAR = re.compile(r"\w")


class _Occurrences:
    """Whole-word occurrences of values in one text (no word character just before or after): what a
    regex search for each value finds, from an index of where each word starts, built in one pass.

    A value that starts with a word character can only occur where a word of the text starts, and that
    word is the value's first word: both end at the same place (at the value's end, or where the value
    goes on with a character that is no word character). So the candidates for a value are the
    positions of its first word, compared by slices of the value's length, grouped once per length."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._words: dict[str, list[int]] | None = None
        self._slices: dict[tuple[str, int], dict[str, list[int]]] = {}

    def of(self, value: str) -> list[int]:
        """Start offsets of the non-overlapping whole-word occurrences of ``value``, in order."""
        text = self._text
        first = _WORD.match(value)
        if first is None:  # starts with punctuation: no word to look up (rare), so search for it
            return self._searched(value)
        key = (first.group(), len(value))
        if key not in self._slices:
            by_slice: dict[str, list[int]] = {}
            for start in self._word_starts().get(first.group(), ()):
                by_slice.setdefault(text[start:start + len(value)], []).append(start)
            self._slices[key] = by_slice
        found: list[int] = []
        for start in self._slices[key].get(value, ()):
            end = start + len(value)
            if (not found or start >= found[-1] + len(value)) and not _WORD_CHAR.match(text, end):
                found.append(start)
        return found

    def _searched(self, value: str) -> list[int]:
        text, found = self._text, []
        at = text.find(value)
        while at >= 0:
            end = at + len(value)
            if (at == 0 or not _WORD_CHAR.match(text, at - 1)) and not _WORD_CHAR.match(text, end):
                found.append(at)
                at = text.find(value, end)
            else:
                at = text.find(value, at + 1)
        return found

    def _word_starts(self) -> dict[str, list[int]]:
        if self._words is None:
            self._words = {}
            for m in _WORD.finditer(self._text):
                self._words.setdefault(m.group(), []).append(m.start())
        return self._words
