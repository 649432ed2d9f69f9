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
    parts = _SENTENCE.split(text.strip())
    out: list[str] = []
    for part in parts:
        if out and _ABBREV.search(out[-1]):
            out[-1] = f"{out[-1]} {part}"
        elif part.strip():
            out.append(part.strip())
    return out


def _words(text: str) -> int:
    return len(text.split())


def _split_long(text: str, max_words: int) -> list[str]:
    """A paragraph over ``max_words`` -> sentence-aligned pieces; a single over-long sentence is cut on words."""
    pieces: list[str] = []
    current: list[str] = []
    for sentence in sentences(text):
        while _words(sentence) > max_words:
            words = sentence.split()
            if current:
                pieces.append(" ".join(current))
                current = []
            pieces.append(" ".join(words[:max_words]))
            sentence = " ".join(words[max_words:])
        if current and _words(" ".join(current)) + _words(sentence) > max_words:
            pieces.append(" ".join(current))
            current = []
        current.append(sentence)
    if current:
        pieces.append(" ".join(current))
    return pieces


def _tail(text: str, overlap_words: int) -> str:
    """The last whole sentences of ``text`` that fit in ``overlap_words`` (empty if none fits)."""
    if overlap_words <= 0:
        return ""
    kept: list[str] = []
    for sentence in reversed(sentences(text)):
        if _words(" ".join([sentence, *kept])) > overlap_words:
            break
        kept.insert(0, sentence)
    return " ".join(kept)


def chunk_document(doc: ParsedDoc, config: ChunkingConfig | None = None) -> list[Chunk]:
    config = config or ChunkingConfig()
    chunks: list[Chunk] = []
    path: list[tuple[int, str]] = []  # open headings: (level, text)
    section: list[tuple[str, int | None]] = []  # body pieces of the current section

    def heading_text() -> str:
        names = [doc.title] if doc.title else []
        names += [text for _, text in path if text != doc.title]
        return " > ".join(names)

    def flush_section() -> None:
        if not section:
            return
        heading = heading_text()
        start = len(chunks)
        current: list[str] = []
        page = section[0][1]
        for piece, piece_page in section:
            if current and _words("\n\n".join(current)) + _words(piece) > config.max_words:
                body = "\n\n".join(current)
                chunks.append(Chunk(len(chunks), body, heading, page))
                overlap = _tail(body, config.overlap_words)
                current = [overlap] if overlap and overlap != piece else []
                page = piece_page
            current.append(piece)
        if current:
            body = "\n\n".join(current)
            if len(chunks) > start and _words(body) < config.min_words:
                last = chunks[-1]
                chunks[-1] = Chunk(last.ordinal, f"{last.text}\n\n{body}", last.heading, last.page)
            else:
                chunks.append(Chunk(len(chunks), body, heading, page))
        section.clear()

    for block in doc.blocks:
        if block.kind == "heading":
            flush_section()
            while path and path[-1][0] >= block.level:
                path.pop()
            path.append((block.level, block.text))
            continue
        if block.kind in ("code", "table", "list") or _words(block.text) <= config.max_words:
            # Code and tables are not cut on sentences; an over-long one is still split on lines.
            if block.kind in ("code", "table", "list") and _words(block.text) > config.max_words:
                lines, current = block.text.split("\n"), []
                for line in lines:
                    if current and _words("\n".join([*current, line])) > config.max_words:
                        section.append(("\n".join(current), block.page))
                        current = []
                    current.append(line)
                if current:
                    section.append(("\n".join(current), block.page))
            else:
                section.append((block.text, block.page))
        else:
            section.extend((piece, block.page) for piece in _split_long(block.text, config.max_words))
    flush_section()
    return chunks
