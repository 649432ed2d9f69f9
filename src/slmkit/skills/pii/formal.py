"""Formal documents (contracts, agreements, notices): what their capitals mean, and where they put names.

Contracts capitalise their defined terms ("the Borrower", "each Lender", "Confidential Information"), and
the small NER, trained on news, takes many of them for people or companies: redaction would then mask the
document's vocabulary. The rules here read the form, not a list of terms:

- a **defined term** is a capitalised phrase of dictionary words used the way a term is used: after a
  determiner or quantifier ("the", "each", "any", "such", "its"), before the contract's own verbs
  ("shall", "means", "hereby"), or defined in the text itself ('(the "Company")', '"Material Adverse
  Effect" means'). A name that is no dictionary word ("Weiss", "Okafor") is never one;
- in a passage written like a contract (``register.is_formal``: legal function words, bare parties,
  determined terms around the span) a capitalised dictionary phrase is a term **wherever it stands**
  ("withhold Retention", "caused by Delay"): that is how the register uses capitals. Only words that still
  read as a name stay one: a given name that is a rarer word ("Grace"), a given name and a surname
  ("Grace Young"), or a name introduced as one ("Mr. Rose");
- a **cross-reference** ("Schedule A", "Article IV") is a part of the document, not a name and an initial;
- a **legal form after a determiner only** ("The Company", "such Corporation") names no company;
- a **signature block** names its signatory after "By:", "/s/", "Name:", "Witness:" and the like: the
  words there are a person's name whatever a dictionary says of them;
- an **e-mail address written out** ("jane dot smith at acme dot com", "r.patel @ acme.com", "jane [at]
  acme [dot] com") is an address once put back together, if its domain ends in a real suffix.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from slmkit.skills.pii import names, register

# Words that open a noun phrase without naming anything: before capitalised dictionary words they make
# those words a term ("the Borrower", "each Lender", "its Subsidiaries").
DETERMINERS = frozenset({
    "the", "this", "that", "these", "those", "each", "every", "any", "all", "such", "said", "a", "an", "no",
    "its", "their", "our", "his", "her", "your", "my", "other", "another", "either", "neither", "both", "same",
    "which", "whose", "whichever", "whatever", "applicable", "relevant", "respective", "subject",
})
# Short words inside a term ("Event of Default", "Terms and Conditions").
_LINKS = frozenset({"of", "and", "or", "for", "in", "to", "on", "under", "&", "the", "by", "with", "at"})
# The contract's own verbs and adverbs: a capitalised phrase right before them is a party or a term.
_TERM_VERB_AFTER = re.compile(
    r"[’']?s?[ \t]*(?:\([^()\n]{0,40}\)[ \t]*)?,?[ \t]*"
    r"(?:shall|means|mean|hereby|herein|hereunder|hereto|hereof|thereof|thereunder|has[ \t]+the[ \t]+meaning"
    r"|have[ \t]+the[ \t]+meaning|is[ \t]+defined|are[ \t]+defined|represents[ \t]+and[ \t]+warrants"
    r"|acknowledges|covenants|agrees|party[ \t]+hereto|parties[ \t]+hereto)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_][\w'’-]*|&")
_DETERMINER_BEFORE = re.compile(r"([^\W\d_]+)[ \t]+$")
# A term defined in the text: '(the "Company")', '(each, a "Lender")', '"Material Adverse Effect" means'.
_QUOTED = r"[\"“]([A-Z][\w'’&-]*(?:[ \t]+[\w'’&-]+){0,6})[\"”]"
_DEFINED_IN_TEXT = re.compile(
    rf"\([^()\n\"“”]{{0,40}}{_QUOTED}[^()\n]{{0,20}}\)"
    rf"|{_QUOTED}[ \t]*(?:shall[ \t]+mean|means|has[ \t]+the[ \t]+meaning|shall[ \t]+have[ \t]+the[ \t]+meaning"
    rf"|refers[ \t]+to|includes)\b")


def defined_terms(text: str) -> frozenset[str]:
    """The terms ``text`` defines in quotes, as written ("Company", "Material Adverse Effect")."""
    if '"' not in text and "“" not in text:
        return frozenset()
    return frozenset(g for m in _DEFINED_IN_TEXT.finditer(text) for g in m.groups() if g)


# A party's role made from a verb or noun: Licensor, Franchisee, Servicer, Assignor, Registrant.
_ROLE_SUFFIX = re.compile(r"(?i)(?:ee|or|er|ant|ent|ary)s?$")


# Prefixes legal drafting glues onto dictionary words with a hyphen: "Non-defaulting", "Sub-processor".
_PREFIXES = frozenset({"non", "sub", "pre", "co", "re", "post", "anti", "multi", "inter", "intra", "self", "cross",
                       "over", "under", "out", "semi", "quasi", "ex", "de", "mid", "pro", "counter", "un"})


def _term_word(word: str, lenient: bool = False) -> bool:
    """A dictionary word, a role made from one ("Servicer": service; "Franchisee": franchise), or a compound
    of them ("Pre-Existing", "Attorney-in-Fact", "Close-out"; a double-barrelled surname is no compound of
    dictionary words: "Mensah-Boateng"). ``lenient`` accepts a given name that is also a rarer dictionary
    word ("Loan", "Grace", "Captain"): the name lists hold every locale's names, ~1,800 of them words."""
    if word in names.place_names() or word.title() in names.place_names():
        return False  # "the Lisbon office": GCIDE lists lisbon (a wine), the address lists the city
    parts = [p for p in re.split(r"[-‐]", word) if p]
    if len(parts) > 1:
        return all(p.lower() in _PREFIXES or p.lower() in _LINKS or (len(p) > 1 and _term_word(p, lenient))
                   for p in parts) \
            and not all(p.lower() in _PREFIXES or p.lower() in _LINKS for p in parts)
    if names.is_english_word(word):
        kind = names.word_kind(word)  # "other": a place, or capitals ("LANDLORD", a heading)
        return kind == "word" or (lenient and kind == "word-name") or (kind == "other" and word.isupper())
    m = _ROLE_SUFFIX.search(word)
    if not m or names.word_kind(word) == "name":
        return False
    stem = word[:m.start()].lower()
    return len(stem) >= 4 and any(names.is_english_word(stem + tail) for tail in ("", "e", "ate"))


def _dictionary_phrase(words: list[str], lenient: bool = False) -> bool:
    """Capitalised dictionary words, perhaps linked by "of", "and" ...: no word a name list would explain
    better ("Weiss", "Okafor", "Hannah" are names before they are anything else; ``lenient``: see
    ``_term_word``)."""
    content = [w for w in words if w.lower() not in _LINKS]
    if not content or not all(w[:1].isupper() for w in content):
        return False
    return all(_term_word(w, lenient) for w in content)


def _listed_name(words: list[str]) -> bool:
    return any(w in names.given_names() or w in names.surnames() or w.title() in names.surnames() for w in words)


# After a role at the start of a sentence: the verbs a contract gives its parties.
_PARTY_VERB_AFTER = re.compile(r"[ \t]+(?:may|will|must|should|shall|agrees|acknowledges|warrants|represents"
                               r"|covenants|undertakes|grants|hereby|acting)\b", re.IGNORECASE)
_LINE_READ = 200
# A line that only labels what follows ("LANDLORD:", "EXECUTIVE") or holds a job title ("Title: ...").
_TITLE_LINE = re.compile(r"^[ \t>*-]*(?:title|its|position|capacity|role|office)[ \t]*:", re.IGNORECASE | re.MULTILINE)


def is_defined_term(text: str, start: int, end: int, terms: frozenset[str] = frozenset(), kind: str = "PERSON") -> bool:
    """Whether the span ``text[start:end]`` (an NER person, organisation or place: ``kind``) is a
    capitalised term of the document rather than a name (see the module's docstring)."""
    words = _WORD.findall(text[start:end])
    if words and words[0].lower() in DETERMINERS:
        determiner, words = True, words[1:]
    else:
        m = _DETERMINER_BEFORE.search(text, max(0, start - 20), start)
        determiner = bool(m and m.group(1).lower() in DETERMINERS)
    if not words:
        return True  # "the", "This": no name at all
    if names.introduced(text, start):
        return False  # "her maiden name is Mauer", "Dear Wit"
    phrase = " ".join(words)
    if phrase in terms or any(phrase in term.split("'")[0] for term in terms if len(phrase) > 3 and phrase in term):
        return True
    if kind == "PERSON" and _cross_reference(words):
        return True  # "Schedule A", "Article IV", "Exhibit C": a part of the document, not a person's initial
    # After a determiner a word that is also someone's given name is a term ("the Loan", "any Grace
    # Period"), unless the words read as a given name and a surname ("the said Grace Young").
    lenient = determiner and not _given_then_surname(words)
    if (kind == "PERSON" and any(_acronym(w) for w in words)
            and _dictionary_phrase([w for w in words if not _acronym(w)], lenient)
            and register.is_formal(text, start, end)):
        return True  # "Foreground IP", "HR Policies": an acronym inside a contract's term, beside its words
    if not _dictionary_phrase(words, lenient) or (words[-1].isupper() and len(words) == 1 and len(words[-1]) <= 4):
        return False  # "ACME", "IBM": short capitals are names of their own
    if determiner and kind == "LOCATION":
        # Towns named by dictionary words stand after "the" too ("the Lisbon office", "the Reading
        # branch"): only a party's role is a term there ("the Franchisee", "the Employee").
        return all(_role_word(w) for w in words if w.lower() not in _LINKS)
    if determiner:
        # "the Royal Bank", "the Investment Fund": a word beside the organisation word names it.
        generic = [w for w in words if w.lower() not in _LINKS and not names.is_org([w])]
        return not (names.is_org(words) and generic)
    if _TERM_VERB_AFTER.match(text, end):
        return True
    # The line around the span, read no further than a short line reaches (a search to the line's ends,
    # per span, is quadratic on a long line).
    line_start = text.rfind("\n", max(0, start - _LINE_READ), start) + 1
    near_end = min(len(text), end + _LINE_READ)
    line_end = text.find("\n", end, near_end)
    rest = text[end:line_end if line_end != -1 else near_end]
    short_line = (line_start > 0 or start < _LINE_READ) and (line_end != -1 or near_end == len(text))
    if short_line and (_TITLE_LINE.match(text, line_start)
                       or (not text[line_start:start].strip() and rest.strip() in ("", ":"))):
        return True  # a job title under "Title:", or a heading line: "LANDLORD:", "EXECUTIVE"
    if kind == "PERSON" and register.is_formal(text, start, end) and not _named_like_person(words):
        return True  # "withhold Retention", "caused by Delay", "pay to Landlord", in a contract's prose
    if len(words) > 1 or _listed_name(words):
        return False
    # One word no name list knows: a party's role capitalised in mid-sentence ("deliver to Seller", "grants
    # to Licensee"), or any term opening a sentence with a party's verb ("Landlord may enter"). Other
    # capitalised dictionary words in mid-sentence stay names: "Impi", "Mauer", "given Even his address".
    if names.line_initial(text, start):
        return bool(_PARTY_VERB_AFTER.match(text, end))
    return _role_word(words[0])


# What follows a part of the document in a cross-reference: a letter or a Roman numeral ("Schedule A",
# "Article IV"); numbers are no words here ("Section 2.14" reaches the rules as "Section").
_DESIGNATOR = re.compile(r"[A-Z]|[IVXLC]{1,6}")


def _cross_reference(words: list[str]) -> bool:
    """Capitalised dictionary words, then a letter or Roman numeral: "Schedule A", "Count II". Not after a
    given name, where the letter is an initial ("Mary A.")."""
    head = list(words)
    while head and _DESIGNATOR.fullmatch(head[-1]):
        head.pop()
    return (0 < len(head) < len(words) and head[0] not in names.given_names()
            and all(w.lower() in _LINKS or (w[:1].isupper() and _term_word(w)) for w in head))


def _named_like_person(words: list[str]) -> bool:
    """Dictionary words that still read as a name in a formal text: a given name that is a rarer word
    ("Grace", "Rose", "Smith"), or a given name then a surname ("Grace Young", "Will Price")."""
    content = [_as_name(w) for w in words if w.lower() not in _LINKS]
    if len(content) == 1:
        return names.word_kind(content[0]) in ("name", "word-name")
    return _given_then_surname(content)


def _acronym(word: str) -> bool:
    """Two to four capitals that are no name in capitals ("IP", "HR", "EBITDA" is too long; "JO" is Jo)."""
    return (word.isupper() and 2 <= len(word) <= 4 and _as_name(word) not in names.given_names()
            and _as_name(word) not in names.surnames())


def _as_name(word: str) -> str:
    """A word in capitals as a name list writes it: "GRACE" -> "Grace"."""
    return word.title() if word.isupper() and len(word) > 1 else word


def _given_then_surname(words: list[str]) -> bool:
    return (len(words) > 1 and _as_name(words[0]) in names.given_names()
            and _as_name(words[-1]) in names.surnames())


def _role_word(word: str) -> bool:
    """A party named by what it does: a verb or noun with a role ending ("Seller": sell, "Licensee":
    license, "Carrier": carry, "Insurer": insure)."""
    m = _ROLE_SUFFIX.search(word)
    if not m:
        return False
    stem = word[:m.start()].lower()
    return len(stem) >= 3 and any(names.is_english_word(stem + tail) for tail in ("", "e", "y", "ate"))


def generic_legal_form(words: list[str]) -> bool:
    """'The Company', 'such Corporation': a legal form after determiners only names no company."""
    return len(words) >= 2 and all(w.lower() in DETERMINERS for w in words[:-1])


# -- signature blocks ---------------------------------------------------------------------------------
# The labels a signature block puts before the signatory's name, at the start of a line.
_SIGNATORY_LABEL = re.compile(
    r"^[ \t>*-]*(?:(?:By|Signed|Signature|Signatory|Authori[sz]ed[ \t]+Signatory|Witness|Witnessed[ \t]+by|Attest"
    r"|Accepted[ \t]+by|Agreed[ \t]+by|Executed[ \t]+by|Print(?:ed)?[ \t]+Name|Name(?:[ \t]+of[ \t]+Signatory)?"
    r"|Signer|Notary)[ \t]*:[ \t]*(?:/s/[ \t]*)?|/s/[ \t]*)",
    re.IGNORECASE | re.MULTILINE,
)
# A name as a signature block writes it: capitalised words, initials ("A."), particles ("van", "de"),
# capitals ("JOHN A. SMITH"), up to six of them, up to the end of the line or a comma.
_NAME_WORD = r"(?:[^\W\d_][\w'’-]*\.?|[^\W\d_]\.)"
_SIGNATORY_NAME = re.compile(rf"{_NAME_WORD}(?:[ \t]+{_NAME_WORD}){{0,5}}(?=[ \t]*(?:,|\n|$))")
_NAME_PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "di", "del", "della", "du", "la", "le", "bin",
                             "ibn", "al", "el", "dos", "das", "ter", "ten", "st.", "mac", "y"})
_TITLE_WORDS = frozenset({"president", "officer", "director", "manager", "secretary", "treasurer", "partner",
                          "member", "chairman", "chair", "trustee", "agent", "attorney", "counsel", "general",
                          "chief", "executive", "vice", "senior", "managing", "authorized", "authorised",
                          "signatory", "representative", "title", "its", "name", "date", "notary", "public"})


def signatory_names(text: str) -> list[tuple[int, int]]:
    """(start, end) of the names after a signature block's labels: "By: /s/ Margaret O'Donnell",
    "Name: TOBIAS LINDQVIST", "Witness: Priya Raman". Not a company ("By: ACME CORP., its general
    partner"), a title ("Name: Chief Financial Officer" is a form filled in wrongly) or a blank line."""
    if ":" not in text and "/s/" not in text:
        return []
    out = []
    for label in _SIGNATORY_LABEL.finditer(text):
        m = _SIGNATORY_NAME.match(text, label.end())
        if not m:
            continue
        words = m.group().split()
        if names.is_org(words) or any(w.lower().rstrip(".") in ("inc", "llc", "ltd", "corp", "lp", "llp", "plc")
                                      for w in words):
            continue
        if all(w.lower().rstrip(".,") in _TITLE_WORDS or w.lower() in _NAME_PARTICLES for w in words):
            continue
        if not any(w[:1].isupper() and len(w.rstrip(".")) > 1 for w in words):
            continue  # initials only, or lower-case words: "By: its general partner"
        if not all(w[:1].isupper() or w.lower() in _NAME_PARTICLES for w in words):
            continue
        out.append((m.start(), m.end()))
    return out


# -- e-mail addresses written out ---------------------------------------------------------------------
_DOT = r"(?:[ \t]?\.[ \t]?|[ \t]*[\[({]dot[\])}][ \t]*|[ \t]+dot[ \t]+)"
_AT = r"(?:[ \t]*@[ \t]*|[ \t]*[\[({]at[\])}][ \t]*|[ \t]+at[ \t]+)"
_PART = r"[A-Za-z0-9][\w+-]{0,63}+"
# Tried at every word start (a lookahead: "notices at jane dot smith at acme dot com" must not be taken
# as "notices" at "jane.smith" and hide the address after it); each try reads a bounded stretch.
_WRITTEN_EMAIL = re.compile(
    rf"(?<![\w.+@-])(?=(?P<local>{_PART}(?:{_DOT}{_PART}){{0,3}})(?P<at>{_AT})"
    rf"(?P<domain>{_PART}(?:{_DOT}{_PART}){{1,4}})(?![\w@-]))",
    re.IGNORECASE,
)
_SPELLED = re.compile(r"[\[({](?:dot|at)[\])}]|[ \t]dot[ \t]", re.IGNORECASE)


def written_emails(text: str, valid_domain: Callable[[str], bool]) -> list[tuple[int, int]]:
    """(start, end) of e-mail addresses written with blanks or words: "jane dot smith at acme dot com",
    "r.patel @ westbrook.com", "jane [at] acme [dot] com". A bare "at" counts only where the domain spells
    its dots out ("meet me at example.com" is a web address, not an e-mail); the address put back together
    must have a domain ``valid_domain`` accepts. Plain addresses are left to the e-mail recogniser."""
    if "@" not in text and "at" not in text.lower():
        return []
    out: list[tuple[int, int]] = []
    for m in _WRITTEN_EMAIL.finditer(text):
        at, local, domain = m.group("at"), m.group("local"), m.group("domain")
        start, end = m.start("local"), m.end("domain")
        if out and start < out[-1][1]:
            continue
        plain_at = at.strip() == "@"
        if plain_at and at == "@" and not re.search(r"\s", local + domain) and not _SPELLED.search(local + domain):
            continue  # an ordinary address
        bare_at = not plain_at and not re.search(r"[\[({]", at)
        if bare_at and not _SPELLED.search(domain):
            continue  # "at example.com"
        if bare_at and any(w.lower() in names.common_words() for w in re.findall(r"[^\W\d_]+", local + " " + domain)
                           if w.lower() not in ("dot", "com", "org", "net")):
            continue  # "look at this dot com": words of a sentence, not the parts of an address
        address = _normalised(local) + "@" + _normalised(domain)
        tld = address.rsplit(".", 1)[-1]
        if not tld.isalpha() or not valid_domain(address.rpartition("@")[2]):
            continue
        out.append((start, end))
    return out


def _normalised(part: str) -> str:
    part = re.sub(r"[ \t]*[\[({]dot[\])}][ \t]*|[ \t]+dot[ \t]+", ".", part, flags=re.IGNORECASE)
    return re.sub(r"[ \t]+", "", part)
