"""Structure-aware chunking: sections and paragraphs first, sentences only when a paragraph is too long.

A chunk never crosses a heading: a citation should point at one section. Inside a
section, paragraphs are packed up to ``max_words``; the next chunk repeats the tail
of the previous one (up to ``overlap_words``, whole sentences) so an answer that
straddles the boundary is still whole in one chunk. The encoder truncates at 256
tokens (~190 words), so the default stays under that.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from slmkit.rag.loaders import Block, ParsedDoc

# Split after . ! ? (and a closing quote/bracket) before something that starts a sentence;
# a lowercase word or a digit after "e.g." or "No." keeps the sentence whole.
_SENTENCE = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z])")
_ABBREV = re.compile(r"\b(?:e\.g|i\.e|etc|vs|Mr|Mrs|Ms|Dr|Prof|Inc|Ltd|Co|No|Fig|approx|St)\.$")


@dataclass(frozen=True)
class ChunkingConfig:
    max_words: int = 160
    overlap_words: int = 30
    min_words: int = 8  # a smaller trailing piece is merged into the previous chunk of its section


@dataclass(frozen=True)
class Chunk:
    ordinal: int  # position in the document, from 0
    text: str
    heading: str  # "Title > Section > Subsection": also indexed, so a chunk carries its context
    page: int | None = None

    @property
    def embed_text(self) -> str:
        return f"{self.heading}\n{self.text}" if self.heading else self.text

    @property
    def hash(self) -> str:
        return text_hash(self.embed_text)


def text_hash(text: str) -> str:
    return hashlib.sha256(" ".join(text.split()).encode("utf-8")).hexdigest()[:32]


def sentences(text: str) -> list[str]:
    out: list[list[str]] = []  # each sentence in parts: gluing strings on every abbreviation is quadratic
    for part in _SENTENCE.split(text.strip()):
        # Only the last part can end in the abbreviation: parts are joined with a space, and no
        # abbreviation holds one.
        if out and _ABBREV.search(out[-1][-1]):
            out[-1].append(part)
        elif part.strip():
            out.append([part.strip()])
    return [" ".join(parts) for parts in out]


def _words(text: str) -> int:
    return len(text.split())


def _split_long(text: str, max_words: int) -> list[str]:
    """A paragraph over ``max_words`` -> sentence-aligned pieces; a single over-long sentence is cut on words.
    Word counts are kept, not recounted: the work is linear in the paragraph."""
    pieces: list[str] = []
    current: list[str] = []
    count = 0
    for sentence in sentences(text):
        words = sentence.split()
        if len(words) > max_words:
            if current:
                pieces.append(" ".join(current))
                current, count = [], 0
            start = 0
            while len(words) - start > max_words:
                pieces.append(" ".join(words[start : start + max_words]))
                start += max_words
            words = words[start:]
            sentence = " ".join(words)
        if current and count + len(words) > max_words:
            pieces.append(" ".join(current))
            current, count = [], 0
        current.append(sentence)
        count += len(words)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _tail(text: str, overlap_words: int) -> str:
    """The last whole sentences of ``text`` that fit in ``overlap_words`` (empty if none fits)."""
    if overlap_words <= 0:
        return ""
    kept: list[str] = []
    count = 0
    for sentence in reversed(sentences(text)):
        count += _words(sentence)
        if count > overlap_words:
            break
        kept.insert(0, sentence)
    return " ".join(kept)


def _pieces(block: Block, max_words: int) -> Iterator[str]:
    """A body block -> pieces of at most ``max_words`` (except one over-long line of code or a table)."""
    words = _words(block.text)
    if words <= max_words:
        yield block.text
    elif block.kind in ("code", "table", "list"):
        # Code and tables are not cut on sentences; an over-long one is split on lines.
        current: list[str] = []
        count = 0
        for line in block.text.split("\n"):
            line_words = _words(line)
            if current and count + line_words > max_words:
                yield "\n".join(current)
                current, count = [], 0
            current.append(line)
            count += line_words
        if current:
            yield "\n".join(current)
    else:
        yield from _split_long(block.text, max_words)


class _Section:
    """Packs one section's pieces into chunks as they arrive. The newest chunk is held back: the
    section's last piece, when short, is merged into it instead of standing alone."""

    def __init__(self, heading: str, config: ChunkingConfig, first_ordinal: int) -> None:
        self.heading = heading
        self.config = config
        self.ordinal = first_ordinal
        self.current: list[str] = []
        self.count = 0  # words in ``current``
        self.page: int | None = None
        self.held: Chunk | None = None

    def _emit(self, body: str) -> Iterator[Chunk]:
        if self.held is not None:
            yield self.held
        self.held = Chunk(self.ordinal, body, self.heading, self.page)
        self.ordinal += 1

    def add(self, piece: str, page: int | None) -> Iterator[Chunk]:
        words = _words(piece)
        if not self.current and self.held is None:
            self.page = page
        if self.current and self.count + words > self.config.max_words:
            body = "\n\n".join(self.current)
            yield from self._emit(body)
            overlap = _tail(body, self.config.overlap_words)
            self.current, self.count = ([overlap], _words(overlap)) if overlap and overlap != piece else ([], 0)
            self.page = page
        self.current.append(piece)
        self.count += words

    def close(self) -> Iterator[Chunk]:
        if self.current:
            body = "\n\n".join(self.current)
            if self.held is not None and _words(body) < self.config.min_words:
                last = self.held
                self.held = Chunk(last.ordinal, f"{last.text}\n\n{body}", last.heading, last.page)
            else:
                yield from self._emit(body)
        if self.held is not None:
            yield self.held
        self.held, self.current, self.count = None, [], 0


def iter_chunks(title: str, blocks: Iterable[Block], config: ChunkingConfig | None = None) -> Iterator[Chunk]:
    """``chunk_document`` as a stream: chunks come out while the blocks are still being read."""
    config = config or ChunkingConfig()
    path: list[tuple[int, str]] = []  # open headings: (level, text)

    def heading_text() -> str:
        names = [title] if title else []
        names += [text for _, text in path if text != title]
        return " > ".join(names)

    section = _Section(heading_text(), config, 0)
    for block in blocks:
        if block.kind == "heading":
            yield from section.close()
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, block.text))
            section = _Section(heading_text(), config, section.ordinal)
            continue
        for piece in _pieces(block, config.max_words):
            yield from section.add(piece, block.page)
    yield from section.close()


def chunk_document(doc: ParsedDoc, config: ChunkingConfig | None = None) -> list[Chunk]:
    return list(iter_chunks(doc.title, doc.blocks, config))
