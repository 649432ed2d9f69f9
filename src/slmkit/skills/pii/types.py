"""The PII vocabulary: the types slmkit reports and the span it reports them as. The one list every
other module (the guard's policy check, redaction, evaluations) imports."""

from __future__ import annotations

from dataclasses import asdict, dataclass

PII_TYPES = (
    "PERSON", "LOCATION", "ORGANIZATION", "EMAIL", "PHONE", "CREDIT_CARD", "IBAN", "IP_ADDRESS", "SSN",
    "DATE_OF_BIRTH", "DATE",
)


@dataclass(frozen=True)
class PiiSpan:
    type: str
    text: str
    start: int
    end: int
    score: float
    # "pattern", "ner", "list" (a country name list), "context" (the words around it: "arrived at ...",
    # "works for ...", the company line of a signature), or "repeat" (another occurrence of a value found
    # elsewhere in the text)
    source: str

    def to_dict(self) -> dict:
        return asdict(self)
