"""``pii``: personal data in text. ``types`` holds the vocabulary (PII_TYPES, PiiSpan), ``detect`` the
skill (Presidio's recognisers plus spaCy's NER), ``names`` the rules for names, places and organisations
the small NER misses."""

from slmkit.skills.pii.detect import Pii
from slmkit.skills.pii.types import PII_TYPES, PiiSpan

__all__ = ["PII_TYPES", "Pii", "PiiSpan"]
