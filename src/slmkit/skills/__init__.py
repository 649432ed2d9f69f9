"""Specialists: small local models behind one contract (``warm_up()``, then call with one item or a batch).

Importing this package loads no model; each skill module imports its runtime lazily.
"""

from __future__ import annotations

from slmkit.lazy import lazy_exports


_SKILLS = {
    "Embed": "slmkit.skills.embed",
    "Classify": "slmkit.skills.classify",
    "Sentiment": "slmkit.skills.sentiment",
    "LangId": "slmkit.skills.langid",
    "Rerank": "slmkit.skills.rerank",
    "Entities": "slmkit.skills.entities",
    "Pii": "slmkit.skills.pii",
    "Moderate": "slmkit.skills.moderate",
    "Injection": "slmkit.skills.injection",
    "Extract": "slmkit.skills.extract",
    "Summarize": "slmkit.skills.summarize",
}

__all__ = list(_SKILLS)


__getattr__ = lazy_exports(__name__, _SKILLS)
