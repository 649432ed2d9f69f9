"""Whether a passage is written in the register of a contract, court paper or other formal instrument.

Capitals mean different things in different registers. In chat, mail or news a capitalised dictionary word
in mid-sentence is usually a name ("ask Will", "given Even his address"); in a contract it is usually a term
the document defines ("withhold Retention", "caused by Delay", "pay to Landlord"), because legal drafting
capitalises its terms instead of naming anything. Word lists of terms cannot keep up with every kind of
agreement; the register can be read from the passage's own habits, which every kind shares:

- the function words of legal drafting ("shall", "hereby", "thereof", "pursuant", "whereas",
  "notwithstanding"), which ordinary prose almost never uses;
- capitalised dictionary words used as terms: after a determiner ("each Progress Payment", "the Member"),
  or as a bare party opening a sentence with a party's verb ("Owner may", "Licensee shall").

A passage is formal when it holds two such cues within reach of the span in question, one of them a legal
function word or a bare party: a capitalised noun after "the" alone happens in any prose ("the Hospital",
"the Bank"). The evidence is counted around each span (a paragraph either side), so a contract quoted
inside an e-mail is read as a contract and the e-mail around it is not.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import lru_cache

from slmkit.skills.pii import names

_LEGAL_WORDS = re.compile(
    r"\b(?:shall|hereby|herein|hereof|hereto|hereunder|hereinafter|hereinabove|heretofore|thereof|therein|thereto"
    r"|thereunder|thereafter|therefrom|thereby|whereas|whereof|wherefore|whereby|pursuant|notwithstanding"
    r"|aforesaid|aforementioned|foregoing|mutatis)\b",
    re.IGNORECASE,
)
# A capitalised word after a determiner: "each Progress Payment", "the Member", "such Lender".
_DETERMINED = re.compile(r"\b(?i:the|each|every|any|all|such|said|no|its|their|this|that|either|neither)[ \t]++"
                         r"([A-Z][a-z][\w'’-]*+)")
# A capitalised word opening a sentence or line, then a verb contracts give their parties: "Owner may".
# Tried only right after the punctuation or line break, and the blanks and bullets read once (possessive):
# a run of blanks after a full stop, read from each of its blanks, is quadratic.
_PARTY_SUBJECT = re.compile(
    r"(?:^|(?<=[.;:!?\n]))[ \t>*-]*+([A-Z][a-z][\w'’-]*+)[ \t]++"
    r"(?:shall|may|must|will|agrees|acknowledges|warrants|represents|covenants|undertakes|hereby|reserves"
    r"|waives|grants|consents|certifies)\b",
)
# How far from a span its evidence may lie: about a paragraph either way.
REACH = 600


def _dictionary_capital(word: str) -> bool:
    """A capitalised dictionary word that is no pronoun, stop word or given name: what a term is made of."""
    return (names.is_english_word(word) and word.lower() not in names.stop_words()
            and word not in names.given_names() and word not in names.place_names())


@dataclass(frozen=True)
class _Cues:
    legal: list[int]  # offsets of legal function words, and of bare parties opening a sentence
    usage: list[int]  # offsets of capitalised dictionary words after a determiner


@lru_cache(maxsize=8)
def _cues(text: str) -> _Cues:
    """Every cue in ``text``, found once (the spans of one text ask many times)."""
    legal = [m.start() for m in _LEGAL_WORDS.finditer(text)]
    legal += [m.start(1) for m in _PARTY_SUBJECT.finditer(text) if _dictionary_capital(m.group(1))]
    usage = [m.start(1) for m in _DETERMINED.finditer(text) if _dictionary_capital(m.group(1))]
    return _Cues(sorted(legal), usage)


def _count(offsets: list[int], lo: int, hi: int) -> int:
    return bisect_right(offsets, hi) - bisect_left(offsets, lo)


def is_formal(text: str, start: int, end: int) -> bool:
    """Whether the passage around ``text[start:end]`` is written like a contract (see the module's
    docstring). The span's own words are no evidence for itself."""
    cues = _cues(text)
    lo, hi = start - REACH, end + REACH
    legal = _count(cues.legal, lo, hi) - _count(cues.legal, start, end - 1)
    usage = _count(cues.usage, lo, hi) - _count(cues.usage, start, end - 1)
    return legal >= 1 and legal + usage >= 2
