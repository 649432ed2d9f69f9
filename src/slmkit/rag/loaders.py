"""Files -> structured blocks (headings, paragraphs, lists, code, tables) for structure-aware chunking.

Each loader keeps the document's own structure rather than its characters: a chunk
should start at a heading or paragraph, never in the middle of a sentence.
pypdf and selectolax are imported only when a PDF or HTML file is read.

Text and Markdown files are read as a stream (``open_document``): the bytes are
decoded, split into lines and turned into blocks piece by piece, so a 50 MB file
never becomes one string and no step looks back further than one paragraph. HTML
and PDF need the whole document to parse and are read at once. Before any of that,
``inspect_file`` hashes the bytes and decides whether a text format really holds
text: NUL bytes, too many control characters, or bytes that are neither UTF-8
(within a small tolerance) nor cp1252 make it a binary file, refused by name.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from slmkit.errors import InvalidInputError

TEXT_SUFFIXES = {".txt", ".text"}
MARKDOWN_SUFFIXES = {".md", ".markdown", ".mdown"}
HTML_SUFFIXES = {".html", ".htm", ".xhtml"}
PDF_SUFFIXES = {".pdf"}
SUPPORTED = TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES | PDF_SUFFIXES

READ_BYTES = 64 * 1024  # one read: small enough for a smooth progress bar, large enough to cost nothing
MAX_LINE_CHARS = 1 << 20  # a longer line is cut at a space: one huge line must not pile up in memory
MAX_BLOCK_CHARS = 256 * 1024  # a longer paragraph is handed on in parts (the chunker splits it anyway)
TITLE_LOOKAHEAD_CHARS = 64 * 1024  # a Markdown title is its first heading, looked for this far
BAD_UTF8_RATE = 0.001  # invalid UTF-8 sequences tolerated per byte (replaced by U+FFFD) ...
BAD_UTF8_MIN = 4  # ... and in any file
CONTROL_RATE = 0.01  # more control characters than this (per character) ...
CONTROL_MIN = 4  # ... and than this is a binary file

# C0 controls that do not occur in text; tab, newlines, form feed and ESC (colour codes in logs) do.
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1a\x1c-\x1f\x7f]")
_CP1252_UNDEFINED = (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d")
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class Block:
    text: str
    kind: str = "para"  # para | heading | code | table | list
    level: int = 0  # heading level (1 = top); 0 for body blocks
    page: int | None = None  # 1-based, PDF only


@dataclass
class ParsedDoc:
    title: str
    blocks: list[Block] = field(default_factory=list)
    kind: str = "text"


@dataclass
class DocStream:
    """A document whose blocks are read from the file as they are consumed (``ParsedDoc``, lazily)."""

    title: str
    kind: str
    blocks: Iterator[Block]


@dataclass(frozen=True)
class FileFacts:
    """What one pass over a file's bytes tells: its hash and, for text formats, how to decode it."""

    digest: str  # sha256 of the bytes
    size: int
    encoding: str = "utf-8"  # codec for the parse pass
    problem: str = ""  # why the file is not text ("" when it is, and always for PDF)


def supported(path: Path) -> bool:
    return path.suffix.lower() in SUPPORTED


class _TextSniffer:
    """Counts, block by block, what tells text from binary: NUL bytes, control characters,
    invalid UTF-8 sequences, valid non-ASCII UTF-8, and bytes cp1252 does not define."""

    def __init__(self) -> None:
        self.size = 0
        self.nul_at = -1
        self.chars = 0
        self.controls = 0
        self.bad_utf8 = 0
        self.good_non_ascii = 0
        self.cp1252_undefined = 0
        self.bom = b""
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, data: bytes) -> None:
        if self.size == 0:
            self.bom = next((b for b in (codecs.BOM_UTF8, *_UTF16_BOMS) if data.startswith(b)), b"")
        if self.nul_at < 0 and (at := data.find(b"\x00")) >= 0:
            self.nul_at = self.size + at
        self.size += len(data)
        if self.bom in _UTF16_BOMS:
            return  # NULs are normal in UTF-16; the parse pass decodes strictly instead
        self.cp1252_undefined += sum(data.count(b) for b in _CP1252_UNDEFINED)
        self._count(self._utf8.decode(data))

    def _count(self, text: str) -> None:
        bad = text.count("\ufffd")
        self.bad_utf8 += bad
        self.good_non_ascii += len(text) - len(text.encode("ascii", "ignore")) - bad
        self.chars += len(text)
        self.controls += len(_CONTROL.findall(text))

    def verdict(self) -> tuple[str, str]:
        """(encoding, problem): the codec to read the file with, or why it is not text."""
        self._count(self._utf8.decode(b"", final=True))
        if self.bom in _UTF16_BOMS:
            return "utf-16", ""
        if self.nul_at >= 0:
            return "", f"binary file, not text (NUL byte at offset {self.nul_at:,})"
        if self.controls > max(CONTROL_MIN, CONTROL_RATE * self.chars):
            return "", f"binary file, not text ({self.controls:,} control characters in {self.chars:,})"
        utf8 = "utf-8-sig" if self.bom == codecs.BOM_UTF8 else "utf-8"
        tolerable = self.bad_utf8 <= max(BAD_UTF8_MIN, BAD_UTF8_RATE * self.size)
        if self.bad_utf8 == 0 or (tolerable and self.good_non_ascii > 0):
            return utf8, ""  # UTF-8, perhaps with a few damaged bytes (read as U+FFFD)
        if self.cp1252_undefined == 0:
            return "cp1252", ""  # the usual Windows export
        if tolerable:
            return utf8, ""
        return "", (f"not text: {self.bad_utf8:,} invalid UTF-8 sequences and bytes undefined in cp1252 "
                    "(a binary file, or an encoding other than UTF-8, UTF-16 and cp1252)")


def _is_text_format(suffix: str) -> bool:
    return suffix.lower() in TEXT_SUFFIXES | MARKDOWN_SUFFIXES | HTML_SUFFIXES


def inspect_file(path: Path, text_checks: bool = True) -> FileFacts:
    """Hash a file in one streamed pass and, for text formats, decide how to decode it.

    ``text_checks=False`` only hashes: enough to learn that an ingested file did not change, which
    is the common case on a re-run and then the only work done for the file."""
    sha = hashlib.sha256()
    sniffer = _TextSniffer() if text_checks and _is_text_format(path.suffix) else None
    size = 0
    with path.open("rb") as f:
        while data := f.read(READ_BYTES):
            sha.update(data)
            size += len(data)
            if sniffer is not None:
                sniffer.feed(data)
    encoding, problem = sniffer.verdict() if sniffer is not None else ("utf-8", "")
    return FileFacts(sha.hexdigest(), size, encoding, problem)


def _decode(data: bytes) -> str:
    """A whole text file's bytes -> str, by the same rules as a streamed file."""
    sniffer = _TextSniffer()
    sniffer.feed(data)
    encoding, problem = sniffer.verdict()
    if problem:
        raise InvalidInputError(problem)
    try:
        return data.decode(encoding, "replace" if encoding.startswith("utf-8") else "strict")
    except UnicodeDecodeError as exc:
        raise InvalidInputError(f"cannot decode as {encoding} (byte {exc.start:,})") from None


def read_text(path: Path, facts: FileFacts, on_read: Callable[[int], None] | None = None) -> Iterator[str]:
    """The decoded text of a file in pieces, as it is read; ``on_read(n)`` after each ``n`` bytes.

    The bytes are hashed again: a file that changed since ``inspect_file`` is refused at the end
    (its pieces are already consumed, but nothing is stored before the document is complete)."""
    errors = "replace" if facts.encoding.startswith("utf-8") else "strict"
    decoder = codecs.getincrementaldecoder(facts.encoding)(errors)
    sha = hashlib.sha256()
    offset = 0
    with path.open("rb") as f:
        while data := f.read(READ_BYTES):
            sha.update(data)
            try:
                text = decoder.decode(data)
            except UnicodeDecodeError as exc:
                raise InvalidInputError(f"cannot decode as {facts.encoding} (byte {offset + exc.start:,})") from None
            offset += len(data)
            if on_read:
                on_read(len(data))
            if text:
                yield text
        try:
            tail = decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise InvalidInputError(f"cannot decode as {facts.encoding} (the file ends mid-character)") from None
        if tail:
            yield tail
    if sha.hexdigest() != facts.digest:
        raise InvalidInputError("the file changed while it was read; ingest again")


def _read_bytes(path: Path, facts: FileFacts, on_read: Callable[[int], None] | None) -> bytes:
    data = path.read_bytes()
    if on_read:
        on_read(len(data))
    if hashlib.sha256(data).hexdigest() != facts.digest:
        raise InvalidInputError("the file changed while it was read; ingest again")
    return data


def iter_lines(pieces: Iterable[str], max_line: int = MAX_LINE_CHARS) -> Iterator[str]:
    """Lines of a text that arrives in pieces, exactly as ``text.split("\\n")`` after turning
    ``\\r\\n`` and ``\\r`` into ``\\n`` -- except that a line longer than ``max_line`` is cut at a
    space (paragraph lines are joined with spaces anyway), so memory stays bounded by a line."""
    partial: list[str] = []  # the current line, in pieces: joining on every piece would be quadratic
    length = 0
    after_cr = False  # the last piece ended in CR: an LF opening the next one belongs to it
    for piece in pieces:
        if not piece:
            continue
        if after_cr and piece.startswith("\n"):
            piece = piece[1:]
        after_cr = piece.endswith("\r")
        lines = piece.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for line in lines[:-1]:
            partial.append(line)
            yield "".join(partial)
            partial, length = [], 0
        if lines[-1]:
            partial.append(lines[-1])
            length += len(lines[-1])
        while length > max_line:
            line = "".join(partial)
            cut = line.rfind(" ", 0, max_line)
            if cut < max_line // 2:  # no space near the limit: cut hard (a run without spaces is no prose)
                cut = max_line
            yield line[:cut]
            partial, length = [line[cut:]], len(line) - cut
    yield "".join(partial)


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _heading(line: str) -> tuple[int, str] | None:
    """An ATX heading ``## Text ##`` -> (level, text). Done by hand: the regular expression for it
    backtracks quadratically on a line with a long run of spaces."""
    level = len(line) - len(line.lstrip("#"))
    if not 1 <= level <= 6 or level == len(line) or not line[level].isspace():
        return None
    return level, line[level:].strip().rstrip("#").strip()


_SETEXT = re.compile(r"^(=+|-+)\s*$")
_LIST_ITEM = re.compile(r"^\s*([-*+]|\d+[.)])\s+")
_FENCE = re.compile(r"^\s*(```|~~~)")


def _md_block(lines: list[str], kind: str = "para") -> Block | None:
    body = "\n".join(lines).strip()
    if not body:
        return None
    if kind == "para" and all(_LIST_ITEM.match(line) for line in body.splitlines() if line.strip()):
        kind = "list"
    if kind == "para" and body.count("|") >= 2 and body.lstrip().startswith("|"):
        kind = "table"
    return Block(body if kind in ("code", "table", "list") else " ".join(body.split()), kind)


def markdown_blocks(lines: Iterable[str], max_block: int = MAX_BLOCK_CHARS) -> Iterator[Block]:
    """ATX and setext headings, fenced code kept whole, paragraphs split on blank lines; a paragraph
    or code block over ``max_block`` characters is handed on in parts."""
    para: list[str] = []
    size = 0

    def flush(kind: str = "para") -> Iterator[Block]:
        nonlocal size
        block = _md_block(para, kind)
        para.clear()
        size = 0
        if block is not None:
            yield block

    def add(line: str) -> bool:
        nonlocal size
        para.append(line)
        size += len(line) + 1
        return size > max_block

    it = iter(lines)
    for line in it:
        fence_match = _FENCE.match(line)
        if fence_match:
            yield from flush()
            fence = fence_match.group(1)
            add(line)
            for line in it:  # noqa: B020 - the code block consumes its lines from the same iterator
                if line.strip().startswith(fence):
                    break
                if add(line):
                    yield from flush("code")
            para.append(fence)
            yield from flush("code")
            continue
        heading = _heading(line)
        if heading:
            yield from flush()
            yield Block(heading[1], "heading", heading[0])
        elif para and len(para) == 1 and _SETEXT.match(line) and line.strip():
            heading_text = para.pop().strip()
            size = 0
            yield Block(heading_text, "heading", 1 if line.strip()[0] == "=" else 2)
        elif not line.strip():
            yield from flush()
        elif add(line):
            yield from flush()
    yield from flush()


def _titled(blocks: Iterator[Block], fallback: str,
            lookahead: int = TITLE_LOOKAHEAD_CHARS) -> tuple[str, Iterator[Block]]:
    """The first heading as the title, looked for in the first ``lookahead`` characters (the chunker
    needs the title before the first chunk); ``fallback`` when there is none that early."""
    seen: list[Block] = []
    chars = 0
    title = ""
    for block in blocks:
        seen.append(block)
        chars += len(block.text)
        if block.kind == "heading":
            title = block.text
            break
        if chars > lookahead:
            break

    def rest() -> Iterator[Block]:
        yield from seen
        yield from blocks

    return title or fallback, rest()


def parse_markdown(text: str, title: str = "") -> ParsedDoc:
    """ATX and setext headings, fenced code kept whole, paragraphs split on blank lines."""
    blocks = list(markdown_blocks(_lines(text)))
    if not title:
        title = next((b.text for b in blocks if b.kind == "heading"), "")
    return ParsedDoc(title, blocks, "markdown")


def _paragraphs(lines: Iterable[str], max_block: int) -> Iterator[tuple[str, bool]]:
    """(paragraph, whole): paragraphs are separated by blank lines; one over ``max_block`` characters
    comes in parts, each with ``whole`` False."""
    para: list[str] = []
    size = 0
    cut = False  # this paragraph was already handed on in part
    for line in lines:
        if not line.strip():
            if para:
                yield "\n".join(para).strip(), not cut
            para, size, cut = [], 0, False
            continue
        para.append(line)
        size += len(line) + 1
        if size > max_block:
            yield "\n".join(para).strip(), False
            para, size, cut = [], 0, True
    if para:
        yield "\n".join(para).strip(), not cut


def _text_block(part: str, whole: bool, followed: bool) -> Block:
    one_line = "\n" not in part
    if (whole and one_line and len(part) <= 80 and not part.endswith((".", ":", ";", ",", "?", "!"))
            and followed and len(part.split()) <= 12):
        return Block(part.lstrip("#").strip(), "heading", 1 if part.isupper() else 2)
    if all(_LIST_ITEM.match(line) for line in part.splitlines()):
        return Block(part, "list")
    return Block(" ".join(part.split()), "para")


def text_blocks(lines: Iterable[str], max_block: int = MAX_BLOCK_CHARS) -> Iterator[Block]:
    """Plain text: paragraphs on blank lines; a short line without final punctuation that stands
    alone before a paragraph reads as a heading (how most exported reports look)."""
    previous: tuple[str, bool] | None = None  # held back until we know whether anything follows it
    for part in _paragraphs(lines, max_block):
        if not part[0]:
            continue
        if previous is not None:
            yield _text_block(*previous, followed=True)
        previous = part
    if previous is not None:
        yield _text_block(*previous, followed=False)


def parse_text(text: str, title: str = "") -> ParsedDoc:
    """Plain text: paragraphs on blank lines; a short line without final punctuation that stands
    alone before a paragraph reads as a heading (how most exported reports look)."""
    return ParsedDoc(title, list(text_blocks(_lines(text))), "text")


_HTML_BLOCKS = ("h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "blockquote", "tr", "dt", "dd",
                "figcaption", "caption")


def parse_html(text: str, title: str = "") -> ParsedDoc:
    from selectolax.lexbor import LexborHTMLParser  # selectolax 1.0 removed the Modest backend

    tree = LexborHTMLParser(text)
    for junk in tree.css("script, style, noscript, template, nav, svg, head > *:not(title)"):
        junk.decompose()
    page_title = tree.css_first("title")
    title = title or (page_title.text(strip=True) if page_title else "")
    root = tree.body or tree.root
    blocks: list[Block] = []
    if root is None:
        return ParsedDoc(title, blocks, "html")
    wanted = set(_HTML_BLOCKS)
    for node in root.css(", ".join(_HTML_BLOCKS)):
        # A <p> inside an <li> (or a nested list) would be read twice: the outermost block owns its text.
        parent, nested = node.parent, False
        while parent is not None:
            if parent.tag in wanted:
                nested = True
                break
            parent = parent.parent
        if nested:
            continue
        tag = node.tag
        if tag == "pre":
            body = node.text(deep=True, strip=False).strip("\n")
            kind = "code"
        elif tag == "tr":
            cells = [c.text(deep=True, separator=" ", strip=True) for c in node.css("th, td")]
            body, kind = " | ".join(c for c in cells), "table"
        else:
            body = " ".join(node.text(deep=True, separator=" ", strip=True).split())
            kind = "list" if tag == "li" else "para"
        if not body.strip():
            continue
        if tag[0] == "h" and tag[1:].isdigit():
            blocks.append(Block(body, "heading", int(tag[1:])))
        elif kind == "list":
            blocks.append(Block("- " + body, "list"))
        else:
            blocks.append(Block(body, kind))
    if not blocks:  # a page of bare text in <div>s: keep it as paragraphs
        return parse_text(root.text(separator="\n", strip=False), title)
    # Consecutive table rows and list items travel together, like a Markdown table or list would.
    merged: list[Block] = []
    for block in blocks:
        if merged and block.kind in ("table", "list") and merged[-1].kind == block.kind:
            merged[-1] = Block(merged[-1].text + "\n" + block.text, block.kind)
        else:
            merged.append(block)
    return ParsedDoc(title, merged, "html")


def _pdf_blocks(page_text: str, page: int) -> list[Block]:
    """pypdf gives one line per printed line and rarely blank lines between paragraphs: a line
    that ends a sentence and is visibly shorter than the page's full lines closes a paragraph,
    and a short line without final punctuation before body text reads as a heading."""
    text = page_text.replace("\r", "\n").strip()
    if re.search(r"\n\s*\n", text):
        lines = []
        for part in re.split(r"\n\s*\n", text):
            lines.extend(part.split("\n") + [""])
    else:
        lines = text.split("\n")
    full = max((len(line.strip()) for line in lines), default=0)
    blocks: list[Block] = []
    current: list[str] = []

    def close() -> None:
        if current:
            blocks.append(Block(" ".join(current), "para", page=page))
            current.clear()

    # The next non-empty line after each line, found in one backward pass (a scan forward from every
    # line would be quadratic in the lines of a page).
    following_of = [""] * len(lines)
    following = ""
    for n in range(len(lines) - 1, -1, -1):
        following_of[n] = following
        following = lines[n].strip() or following
    for n, raw in enumerate(lines):
        line = raw.strip()
        if not line:
            close()
            continue
        following = following_of[n]
        after_sentence = not current or current[-1].endswith((".", "!", "?"))
        if (after_sentence and len(line.split()) <= 8 and line[0].isupper()
                and not line.endswith((".", ",", ";", ":")) and len(following) > len(line)):
            close()
            blocks.append(Block(line, "heading", 2, page=page))
            continue
        current.append(line)
        if line.endswith((".", "!", "?", ":")) and len(line) < 0.8 * full:
            close()
    close()
    return blocks


def parse_pdf(data: bytes, title: str = "") -> ParsedDoc:
    import io
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    logging.getLogger("pypdf").setLevel(logging.ERROR)  # malformed-but-readable files warn on every page
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt("")  # many "protected" PDFs only restrict printing; a real password fails below
        pages = [page.extract_text() or "" for page in reader.pages]
        meta_title = (reader.metadata.title if reader.metadata else None) or ""
    except PdfReadError as exc:
        raise InvalidInputError(f"cannot read PDF: {exc}") from None
    except Exception as exc:  # noqa: BLE001 - a damaged file can fail anywhere in pypdf; skip it, don't stop the ingest
        raise InvalidInputError(f"cannot read PDF ({type(exc).__name__}: {exc})") from None
    blocks = [b for n, text in enumerate(pages, start=1) for b in _pdf_blocks(text, n)]
    return ParsedDoc(title or str(meta_title), blocks, "pdf")


def parse_bytes(data: bytes, suffix: str, name: str = "") -> ParsedDoc:
    """Parse one file's content by its suffix; unsupported suffixes are an ``InvalidInputError``."""
    suffix = suffix.lower()
    path = Path(name or f"document{suffix}")
    if suffix in PDF_SUFFIXES:
        doc = parse_pdf(data)
    elif suffix in HTML_SUFFIXES:
        doc = parse_html(_decode(data))
    elif suffix in MARKDOWN_SUFFIXES:
        doc = parse_markdown(_decode(data))
    elif suffix in TEXT_SUFFIXES:
        doc = parse_text(_decode(data))
    else:
        raise InvalidInputError(f"unsupported file type {suffix or '(none)'!r}; supported: {', '.join(sorted(SUPPORTED))}")
    if not doc.title:
        doc.title = path.stem
    return doc


def parse_file(path: Path) -> ParsedDoc:
    if not path.is_file():
        raise InvalidInputError(f"{path} is not a file")
    return parse_bytes(path.read_bytes(), path.suffix, str(path))


def open_document(path: Path, facts: FileFacts, on_read: Callable[[int], None] | None = None) -> DocStream:
    """A file as a ``DocStream``: Text and Markdown stream from disk as the blocks are consumed; HTML
    and PDF are parsed whole. ``facts`` come from ``inspect_file`` (a binary file is refused here,
    by its ``problem``); ``on_read(n)`` follows the bytes read. Titles as in ``parse_bytes``."""
    suffix = path.suffix.lower()
    if suffix in PDF_SUFFIXES:
        doc = parse_pdf(_read_bytes(path, facts, on_read))
        return DocStream(doc.title or path.stem, doc.kind, iter(doc.blocks))
    if suffix not in SUPPORTED:
        raise InvalidInputError(f"unsupported file type {suffix or '(none)'!r}")
    if facts.problem:
        raise InvalidInputError(facts.problem)
    pieces = read_text(path, facts, on_read)
    if suffix in HTML_SUFFIXES:
        doc = parse_html("".join(pieces))
        return DocStream(doc.title or path.stem, doc.kind, iter(doc.blocks))
    if suffix in MARKDOWN_SUFFIXES:
        title, blocks = _titled(markdown_blocks(iter_lines(pieces)), path.stem)
        return DocStream(title, "markdown", blocks)
    return DocStream(path.stem, "text", text_blocks(iter_lines(pieces)))
