"""``summarize``: a short summary from the local generator, held to a word budget.

The budget is asked for in the prompt and capped by ``max_tokens``, but a small
model counts words poorly, so an overshoot is cut back at the last sentence end
inside the budget (or, lacking one, at the budget itself).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from slmkit.errors import InvalidInputError
from slmkit.skills.base import clean
from slmkit.text import per_item, unbatch

MIN_WORDS, MAX_WORDS = 5, 400

# English runs ~1.3 tokens a word; 2x leaves room for an overshoot we then trim
# instead of a summary cut off mid-word.
_TOKENS_PER_WORD = 2
_TOKEN_MARGIN = 16

_SENTENCE_END = re.compile(r"[.!?][\"')\]]*$")
_PREAMBLE = re.compile(r"^\s*(?:\*\*)?(?:summary|tl;?dr)(?:\*\*)?\s*:\s*(?:\*\*)?\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Summary:
    text: str
    words: int
    prompt_tokens: int
    completion_tokens: int
    model: str
    trimmed: bool = False  # True when the model overshot (or was cut off) and the text was shortened


def count_words(text: str) -> int:
    return len(text.split())


def fit(text: str, max_words: int, cut_off: bool = False) -> tuple[str, bool]:
    """Shorten ``text`` to ``max_words``, ending on a sentence boundary when one lies inside the budget.

    ``cut_off`` says the generator stopped at ``max_tokens``: its last sentence is a
    fragment, so it goes even when the word count is within budget.
    """
    words = " ".join(text.split()).split(" ") if text.strip() else []
    if len(words) <= max_words and not cut_off:
        return " ".join(words), False
    kept = words[:max_words]
    for end in range(len(kept), 0, -1):
        if _SENTENCE_END.search(kept[end - 1]):
            shortened = " ".join(kept[:end])
            return shortened, len(kept[:end]) < len(words)
    if len(words) <= max_words:  # cut off, but no sentence ever ended: keep what there is
        return " ".join(words), False
    return " ".join(kept).rstrip(",;:-") + "…", True


def summary_messages(text: str, max_words: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": (
            f"You summarise texts. Write a summary of at most {max_words} words in plain sentences. "
            "Keep the main facts: who, what, when, numbers. No title, no preamble, no bullet points, "
            "nothing that is not in the text."
        )},
        {"role": "user", "content": f"Summarise in at most {max_words} words:\n\n{text}"},
    ]


class Summarize:
    name = "summarize"

    def __init__(self, *, max_words: int = 60, generator: str | None = None) -> None:
        if isinstance(max_words, bool) or not isinstance(max_words, int) or not MIN_WORDS <= max_words <= MAX_WORDS:
            raise InvalidInputError(f"max_words must be an integer from {MIN_WORDS} to {MAX_WORDS}, got {max_words!r}")
        self.max_words = max_words
        self.max_tokens = _TOKENS_PER_WORD * max_words + _TOKEN_MARGIN
        self.generator_name = generator
        self._generator: Any = None

    def warm_up(self) -> Summarize:
        if self._generator is None:
            from slmkit.models.llama import get_generator

            self._generator = get_generator(self.generator_name).warm_up()
        return self

    def __call__(self, items: object) -> Summary | list[Summary]:
        batch, single = clean(items)
        self.warm_up()
        return unbatch(per_item(batch, single, self.one), single)

    def one(self, text: str) -> Summary:
        self.warm_up()
        completion = self._generator.chat(summary_messages(text, self.max_words), max_tokens=self.max_tokens,
                                          temperature=0.0, seed=0)
        raw = _PREAMBLE.sub("", completion.text.strip())
        summary, trimmed = fit(raw, self.max_words, cut_off=completion.finish_reason == "length")
        return Summary(summary, count_words(summary), completion.prompt_tokens, completion.completion_tokens,
                       completion.model, trimmed)
